package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sortographer/sortographer/internal/accounts"
	"github.com/sortographer/sortographer/internal/store"
)

// Quotas as users see them, and account administration: the admin's list of users,
// quota overrides, disabling, and deleting an account (the GDPR erasure, which
// internal/accounts carries out), by an admin or by the user.

// quotaJSON is a user's usage and quota. A null limit is unlimited.
type quotaJSON struct {
	UsedBytes    int64  `json:"usedBytes"`
	UsedPhotos   int64  `json:"usedPhotos"`
	StorageBytes *int64 `json:"storageBytes"`
	Photos       *int64 `json:"photos"`
}

func (s *Server) quotaOf(u store.User) quotaJSON {
	q := u.QuotaOverride.Apply(s.d.Quota)
	return quotaJSON{UsedBytes: u.UsedBytes, UsedPhotos: u.UsedPhotos, StorageBytes: q.Bytes, Photos: q.Photos}
}

// overrideJSON is an admin's override of a user's quota: null takes the Gallery's
// default, -1 is unlimited.
type overrideJSON struct {
	StorageBytes *int64 `json:"storageBytes"`
	Photos       *int64 `json:"photos"`
}

// adminUserJSON is a user in the admin's list: the account, its state and its
// storage, never its photos or labels.
type adminUserJSON struct {
	userJSON
	// Disabled: an admin disabled the account. Deleting: its erasure is under way.
	Disabled bool `json:"disabled"`
	Deleting bool `json:"deleting"`
	// Quota is the quota in force; Override the admin's override of the default.
	Quota    quotaJSON    `json:"quota"`
	Override overrideJSON `json:"override"`
}

type userPageJSON struct {
	Users []adminUserJSON `json:"users"`
	// Next is the cursor of the following page; null on the last page.
	Next *string `json:"next"`
}

// adminListUsers pages through the users in id order: ?limit= and ?cursor=.
func (s *Server) adminListUsers(w http.ResponseWriter, r *http.Request, _ store.User) {
	var page store.UserPageRequest
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxPageSize {
			writeError(w, r, http.StatusBadRequest, "bad_limit", fmt.Sprintf("limit must be 1 to %d", store.MaxPageSize))
			return
		}
		page.Limit = n
	}
	if v := r.URL.Query().Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			writeError(w, r, http.StatusBadRequest, "bad_cursor", "cursor must be the next value of a previous page")
			return
		}
		page.AfterID = n
	}
	p, err := s.d.Store.ListUsers(r.Context(), page)
	if err != nil {
		s.internalError(w, r, "listing users", err)
		return
	}
	out := userPageJSON{Users: make([]adminUserJSON, 0, len(p.Users))}
	for _, u := range p.Users {
		out.Users = append(out.Users, adminUserJSON{
			userJSON: toUserJSON(u), Disabled: u.Disabled(), Deleting: u.Erasing(), Quota: s.quotaOf(u),
			Override: overrideJSON{StorageBytes: u.QuotaOverride.Bytes, Photos: u.QuotaOverride.Photos},
		})
	}
	if p.NextAfterID != 0 {
		next := strconv.FormatInt(p.NextAfterID, 10)
		out.Next = &next
	}
	writeJSON(w, http.StatusOK, out)
}

// targetUser reads the {id} of an admin's request; it answers and returns false for a
// bad or unknown id, one being erased included.
func (s *Server) targetUser(w http.ResponseWriter, r *http.Request) (store.User, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, r, http.StatusNotFound, "not_found", "no such user")
		return store.User{}, false
	}
	u, err := s.d.Store.UserByID(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || err == nil && u.Erasing() {
		writeError(w, r, http.StatusNotFound, "not_found", "no such user")
		return store.User{}, false
	}
	if err != nil {
		s.internalError(w, r, "reading the user", err)
		return store.User{}, false
	}
	return u, true
}

// adminSetQuota sets a user's quota override: {"storageBytes": n|null|-1, "photos": n|null|-1}.
func (s *Server) adminSetQuota(w http.ResponseWriter, r *http.Request, admin store.User) {
	target, ok := s.targetUser(w, r)
	if !ok {
		return
	}
	var o overrideJSON
	if !readJSON(w, r, &o) {
		return
	}
	for _, v := range []*int64{o.StorageBytes, o.Photos} {
		if v != nil && *v < store.UnlimitedQuota {
			writeError(w, r, http.StatusBadRequest, "bad_quota", "storageBytes and photos must be null (the gallery's default), -1 (unlimited) or a limit of 0 or more")
			return
		}
	}
	err := s.d.Store.SetUserQuota(r.Context(), target.ID, o.StorageBytes, o.Photos)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, r, http.StatusNotFound, "not_found", "no such user")
		return
	}
	if err != nil {
		s.internalError(w, r, "setting the quota", err)
		return
	}
	s.log(r.Context()).Info("set user quota", "targetUserId", target.ID, "adminId", admin.ID)
	u, err := s.d.Store.UserByID(r.Context(), target.ID)
	if err != nil {
		s.internalError(w, r, "reading the user", err)
		return
	}
	writeJSON(w, http.StatusOK, adminUserJSON{userJSON: toUserJSON(u), Disabled: u.Disabled(), Quota: s.quotaOf(u),
		Override: overrideJSON{StorageBytes: u.QuotaOverride.Bytes, Photos: u.QuotaOverride.Photos}})
}

// notOwnAccount refuses an admin's request about their own account: an admin who
// disables or deletes themself from the user list has made a mistake (deleting one's
// own account is DELETE /api/me, with the password).
func notOwnAccount(w http.ResponseWriter, r *http.Request, admin, target store.User) bool {
	if admin.ID == target.ID {
		writeError(w, r, http.StatusConflict, "own_account", "an admin cannot disable or delete their own account here")
		return false
	}
	return true
}

// lastAdmin answers a refusal that would leave no enabled admin.
func lastAdmin(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, http.StatusConflict, "last_admin", "this is the last enabled admin: make another admin first")
}

func (s *Server) adminDisable(w http.ResponseWriter, r *http.Request, admin store.User) {
	s.adminSetDisabled(w, r, admin, true)
}

func (s *Server) adminEnable(w http.ResponseWriter, r *http.Request, admin store.User) {
	s.adminSetDisabled(w, r, admin, false)
}

func (s *Server) adminSetDisabled(w http.ResponseWriter, r *http.Request, admin store.User, disabled bool) {
	target, ok := s.targetUser(w, r)
	if !ok || !notOwnAccount(w, r, admin, target) {
		return
	}
	err := s.d.Store.SetUserDisabled(r.Context(), target.ID, disabled)
	switch {
	case errors.Is(err, store.ErrLastAdmin):
		lastAdmin(w, r)
		return
	case errors.Is(err, store.ErrNotFound):
		writeError(w, r, http.StatusNotFound, "not_found", "no such user")
		return
	case err != nil:
		s.internalError(w, r, "changing the account", err)
		return
	}
	if disabled {
		s.revokeSessions(r.Context(), target.ID)
		s.log(r.Context()).Info("disabled user", "targetUserId", target.ID, "adminId", admin.ID)
	} else {
		s.log(r.Context()).Info("enabled user", "targetUserId", target.ID, "adminId", admin.ID)
	}
	w.WriteHeader(http.StatusNoContent)
}

// adminDeleteUser deletes another user's account: 202, its erasure under way.
func (s *Server) adminDeleteUser(w http.ResponseWriter, r *http.Request, admin store.User) {
	target, ok := s.targetUser(w, r)
	if !ok || !notOwnAccount(w, r, admin, target) {
		return
	}
	if s.deleteAccount(w, r, target.ID) {
		s.log(r.Context()).Info("deleted user's account", "targetUserId", target.ID, "adminId", admin.ID)
	}
}

// deleteOwnAccount deletes the signed-in user's account, confirmed by their password:
// DELETE /api/me {"password": "…"}.
func (s *Server) deleteOwnAccount(w http.ResponseWriter, r *http.Request, u store.User) {
	var body struct {
		Password string `json:"password"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	if !s.confirmPassword(w, r, u, body.Password, "the password is wrong: the account was not deleted") {
		return
	}
	if s.deleteAccount(w, r, u.ID) {
		clearSessionCookie(w, r)
		s.log(r.Context()).Info("user deleted their account")
	}
}

// deleteAccount marks the account for erasure, ends its sessions, answers 202 and
// starts the erasure, which goes on after the answer; a crash midway is resumed by
// ResumeErasures. It returns false when it answered a refusal instead.
func (s *Server) deleteAccount(w http.ResponseWriter, r *http.Request, userID int64) bool {
	err := s.d.Store.RequestErasure(r.Context(), userID)
	switch {
	case errors.Is(err, store.ErrLastAdmin):
		lastAdmin(w, r)
		return false
	case errors.Is(err, store.ErrNotFound):
		writeError(w, r, http.StatusNotFound, "not_found", "no such user")
		return false
	case err != nil:
		s.internalError(w, r, "deleting the account", err)
		return false
	}
	s.revokeSessions(r.Context(), userID)
	ctx := context.WithoutCancel(r.Context())
	go func() {
		if err := s.Eraser().Erase(ctx, userID); err != nil {
			s.log(ctx).Warn("erasing the account failed; it will be resumed", "targetUserId", userID, "error", err)
		}
	}()
	w.WriteHeader(http.StatusAccepted)
	return true
}

// revokeSessions ends a disabled or deleted account's sessions on every replica
// (internal/sessions). When it fails the account is still refused on its next request:
// the middleware reads the account's state each time.
func (s *Server) revokeSessions(ctx context.Context, userID int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.d.Sessions.RevokeUserSessions(ctx, userID); err != nil {
		s.log(ctx).Warn("revoking the account's sessions failed; its requests are refused all the same", "targetUserId", userID, "error", err)
	}
}

// Eraser erases the accounts marked for erasure; `serve` runs its ResumeErasures so
// that an erasure a crash interrupted is finished.
func (s *Server) Eraser() *accounts.Eraser {
	return accounts.NewEraser(s.d.Store, s.d.Objects, s.d.Log.With("component", "erasure"))
}
