package v1alpha1

// The conditions of a Gallery and the reasons they give: the vocabulary an admin reads in
// `kubectl describe gallery` and waits on with `kubectl wait`. docs/operator.md (Status)
// lists every reason, and a test keeps the two in step.

// Condition types. Ready summarises the others.
const (
	// ConditionReady is True when every component Ready requires is ready and the last
	// pass succeeded.
	ConditionReady = "Ready"
	// ConditionServer reports the server Deployment.
	ConditionServer = "ServerReady"
	// ConditionWorkers reports the workers Deployment.
	ConditionWorkers = "WorkersReady"
	// ConditionCache reports the managed Redis StatefulSet or the external Redis.
	ConditionCache = "CacheReady"
	// ConditionDatabase reports the managed MariaDB, the embedded database's claim or
	// the external database.
	ConditionDatabase = "DatabaseReady"
	// ConditionStorage reports the photos claim or the S3 bucket.
	ConditionStorage = "StorageReady"
	// ConditionIngress reports the Ingress; it does not affect Ready.
	ConditionIngress = "IngressReady"
	// ConditionMemoryPressure is True while a container of the Gallery's pods was
	// OOM-killed in the last 10 minutes (reason OOMKilled); it does not affect Ready.
	ConditionMemoryPressure = "MemoryPressure"
	// ConditionBackupReady is True while the newest good backup is younger than twice
	// the schedule's interval; present only with spec.backup. It does not affect Ready.
	ConditionBackupReady = "BackupReady"
	// ConditionRestored reports the restore of spec.restoreFrom; present only with it.
	// Until it is True the Gallery is not Ready and runs no server or workers.
	ConditionRestored = "Restored"
	// ConditionUpgraded is True when the server and workers run the image the Gallery
	// asks for. An upgrade runs the new image's migrations in a Job first; a failed
	// migration makes it and Ready False (MigrationFailed) while the old pods serve.
	ConditionUpgraded = "Upgraded"
)

// Reasons of the component conditions (ServerReady, WorkersReady, CacheReady,
// DatabaseReady, StorageReady, IngressReady).
const (
	// ReasonNotCreated (False): the child the condition reports does not exist yet.
	ReasonNotCreated = "NotCreated"
	// ReasonNotUsed (True): the Gallery does not need the component (workers with an
	// embedded database or scaled to zero, an ingress it does not ask for).
	ReasonNotUsed = "NotUsed"
)

// Reasons of the conditions that report a Deployment or StatefulSet (ServerReady,
// WorkersReady, and CacheReady and DatabaseReady of managed Redis and MariaDB).
const (
	// ReasonAvailable (True): every replica runs the latest spec and is available.
	ReasonAvailable = "Available"
	// ReasonProgressing (False): a rollout or scale-out is under way.
	ReasonProgressing = "Progressing"
	// ReasonProgressDeadlineExceeded (False): the Deployment exceeded its progress
	// deadline (the Deployment controller's own reason); the Gallery's phase is Degraded.
	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
)

// Reasons of the conditions that report an external dependency (CacheReady,
// DatabaseReady, StorageReady) from the preflight check.
const (
	// ReasonExternal (True): the dependency is external and was not checked.
	ReasonExternal = "External"
	// ReasonReachable (True): the dependency let the operator in as the gallery will
	// connect: Redis answered AUTH and PING, the database a login and SELECT 1 with the
	// configured TLS mode, S3 HeadBucket with the gallery's credentials.
	ReasonReachable = "Reachable"
	// ReasonUnreachable (False): nothing answered at the address (refused, timed out,
	// no such host); the message has the error.
	ReasonUnreachable = "Unreachable"
	// ReasonAuthenticationFailed (False): the server answered and refused the
	// credentials (a wrong password or user, an S3 key it does not know or a signature
	// that does not match).
	ReasonAuthenticationFailed = "AuthenticationFailed"
	// ReasonTLSMismatch (False): one side speaks TLS and the other does not: the server
	// wants TLS (tls / tlsMode is off) or does not offer it (it is on); the message says
	// which.
	ReasonTLSMismatch = "TLSMismatch"
	// ReasonCertificateRejected (False): TLS is on at both ends and the server's
	// certificate does not chain to the CA bundle (caSecretRef, or the system roots) or
	// does not name the host.
	ReasonCertificateRejected = "CertificateRejected"
	// ReasonAccessDenied (False): logged in, but not allowed: the database user may not
	// use the database, or the S3 credentials may not read the bucket.
	ReasonAccessDenied = "AccessDenied"
	// ReasonNotFound (False): logged in, and the database or bucket does not exist.
	ReasonNotFound = "NotFound"
	// ReasonCheckFailed (False): the check failed for another reason; the message has
	// the error.
	ReasonCheckFailed = "CheckFailed"
)

// Reasons of the conditions that report a PersistentVolumeClaim (DatabaseReady of the
// embedded database, StorageReady of volume storage).
const (
	// ReasonClaimPending (False): the claim is not bound yet.
	ReasonClaimPending = "ClaimPending"
	// ReasonBound (True): the claim is bound.
	ReasonBound = "Bound"
)

// Reasons of IngressReady (besides NotUsed and NotCreated).
const (
	// ReasonWaitingForAddress (False): the ingress controller has not assigned an
	// address yet.
	ReasonWaitingForAddress = "WaitingForAddress"
	// ReasonAddressAssigned (True): the Ingress has an address; the message gives it.
	ReasonAddressAssigned = "AddressAssigned"
)

// Reasons of Ready (also RestoreRunning and RestoreFailed, as Restored says them).
const (
	// ReasonAllComponentsReady (True): every component Ready requires is ready.
	ReasonAllComponentsReady = "AllComponentsReady"
	// ReasonComponentsNotReady (False): the message lists the components that are not.
	ReasonComponentsNotReady = "ComponentsNotReady"
	// ReasonMissingReference (False; also BackupReady, and a warning event): a Secret,
	// key or claim the spec names does not exist. Nothing that consumes it is applied
	// until it does, and the running pods keep their last good configuration.
	ReasonMissingReference = "MissingReference"
	// ReasonInvalidSpec (False; also BackupReady, and a warning event): the spec passed
	// the schema but the operator cannot use it (a cron schedule or time zone that does
	// not parse); the rest of the Gallery still runs.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonSuspended (False): spec.suspend stops reconciliation.
	ReasonSuspended = "Suspended"
	// ReasonReconcileFailed (False): the last pass failed applying a child; the message
	// names the phase and gives the API server's reason, shortened (on Ready, and on the
	// condition of the component the phase makes).
	ReasonReconcileFailed = "ReconcileFailed"
)

// Reasons of MemoryPressure.
const (
	// ReasonOOMKilled (True, and the warning event): a container of the Gallery's pods
	// was killed for passing its memory limit.
	ReasonOOMKilled = "OOMKilled"
	// ReasonWithinMemoryLimits (False): no recent OOM kill.
	ReasonWithinMemoryLimits = "WithinMemoryLimits"
)

// Reasons of BackupReady (besides MissingReference and InvalidSpec).
const (
	// ReasonBackupSucceeded (True): the newest good backup is recent enough.
	ReasonBackupSucceeded = "BackupSucceeded"
	// ReasonFirstBackupPending (Unknown): no backup yet, and the Gallery is younger than
	// twice the schedule's interval.
	ReasonFirstBackupPending = "FirstBackupPending"
	// ReasonNoBackupYet (False): no backup completed in twice the schedule's interval
	// since the Gallery was created.
	ReasonNoBackupYet = "NoBackupYet"
	// ReasonBackupTooOld (False): the newest good backup is older than twice the
	// schedule's interval.
	ReasonBackupTooOld = "BackupTooOld"
	// ReasonBackupFailed (False): the newest finished backup failed.
	ReasonBackupFailed = "BackupFailed"
	// ReasonDrillFailed (False): the restore drill of the newest backup failed.
	ReasonDrillFailed = "DrillFailed"
)

// Reasons of Restored (RestoreRunning and RestoreFailed also of Ready).
const (
	// ReasonRestoreRunning (False): the restore has not finished (or not started).
	ReasonRestoreRunning = "RestoreRunning"
	// ReasonRestoreFailed (False): the restore Job failed; the message has its error.
	ReasonRestoreFailed = "RestoreFailed"
	// ReasonRestoreSucceeded (True): the backup was restored.
	ReasonRestoreSucceeded = "RestoreSucceeded"
)

// Reasons of Upgraded (MigrationFailed also of Ready).
const (
	// ReasonUpToDate (True): the server and workers run the image asked for.
	ReasonUpToDate = "UpToDate"
	// ReasonMigrating (False): the new image's migration Job runs; the old pods serve.
	ReasonMigrating = "Migrating"
	// ReasonRollingOut (False): migrated; the server and workers roll onto the new image.
	ReasonRollingOut = "RollingOut"
	// ReasonMigrationFailed (False): the migration Job failed; the message has its
	// error. The old pods keep serving; deleting the Job retries.
	ReasonMigrationFailed = "MigrationFailed"
)
