import Fluent

/// Every migration, in the order it is applied. Migrations only add; each may run again safely.
enum FluxMigrations {
    static let all: [any Migration] = [
        // 001: the audit trail.
        CreateAuditEvent(),
        // 002: rate-limit buckets shared by replicas.
        CreateRateLimitBucket(),
        // 003: accounts, tenants, sessions and refresh tokens; the user agent on audit events.
        CreateIdentity(),
        AddAuditUserAgent(),
        // 004: TOTP factors and recovery codes.
        CreateMFA(),
        // 005: the mail outbox; verified email addresses.
        CreateOutbox(),
        // 006: accounts linked to an OpenID Connect provider.
        CreateExternalIdentity(),
        // 007: clients' setup requests (onboarding).
        CreateSetupRequest(),
        // 008: consultation tickets.
        CreateOperationsSignal(),
        // 009: FluxAI conversations and their events.
        CreateAiTelemetry(),
        // 010: public uploads.
        CreateAsset(),
        // 011: the model behind each FluxAI answer (for its cost).
        AddAiEventModel(),
        // 012: tenant configuration, workers, message logs and API keys.
        CreateTenantOperations(),
        // 013: a covering index for the FluxAI dashboard.
        AddDashboardIndex(),
        // 014: invitations into client organizations.
        CreateInvitation(),
        // 015: messaging between clients and staff.
        CreateMessaging(),
        // 016: the real-time event log and presence.
        CreateRealtime(),
        // 017: client organizations' files, folders and share links.
        CreatePortalFiles(),
        // 018: files attached to messages.
        AddMessageAttachment(),
        // 019: code attempts per MFA challenge; staff addresses count as verified.
        CreateMFAChallengeAttempts(),
        // 020: the ticket a public upload was sent with.
        AddAssetTicket(),
        // 021: in-app notifications and each person's unread-mail setting.
        CreateNotifications(),
        // 022: passkeys and their challenges.
        CreatePasskeys(),
        // 023: the worker control plane (desired state, commands, observed state).
        CreateWorkerControl(),
    ]
}
