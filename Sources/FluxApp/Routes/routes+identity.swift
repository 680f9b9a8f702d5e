import Vapor

/// Sign-up, sign-in, sessions, second factors, recovery, sign-in with Google and Apple, tenants' members and the audit log.
func identityRoutes(_ root: GuardedRoutes, config: AppConfig) {
    let identity = root.identity
    let auth = root.grouped("api", "auth")
    let account = auth.limited(RateLimits.account)

    let sessions = AuthController(identity: identity)
    auth.limited(RateLimits.register).open(.POST, "register", use: sessions.register)
    auth.limited(RateLimits.login).open(.POST, "login", use: sessions.login)
    auth.limited(RateLimits.refresh).open(.POST, "refresh", use: sessions.refresh)
    auth.limited(RateLimits.register).open(.POST, "setup", use: sessions.setup)
    account.signedIn(.POST, "logout", roles: Role.everyone, use: sessions.logout)
    account.signedIn(.POST, "logout-all", roles: Role.everyone, use: sessions.logoutAll)
    account.signedIn(.POST, "logout-others", roles: Role.everyone, use: sessions.logoutOthers)
    account.signedIn(.GET, "sessions", roles: Role.everyone, use: sessions.sessions)
    account.signedIn(.DELETE, "sessions", ":sessionID", roles: Role.everyone, use: sessions.revokeSession)
    account.signedIn(.GET, "token-info", roles: Role.everyone, use: sessions.tokenInfo)
    account.signedIn(.GET, "me", roles: Role.everyone, use: sessions.me)
    account.signedIn(.PATCH, "me", roles: Role.everyone, use: sessions.updateProfile)
    account.signedIn(.GET, "verify", roles: Role.everyone, use: sessions.verify)
    account.signedIn(.POST, "password", roles: Role.everyone, use: sessions.changePassword)

    let recovery = AccountRecovery(identity: identity)
    let links = auth.limited(RateLimits.register)
    links.open(.POST, "email", "verify", use: recovery.verify)
    links.open(.POST, "email", "confirm", use: recovery.confirmEmailChange)
    account.signedIn(.POST, "email", roles: Role.everyone, use: recovery.requestEmailChange)
    links.signedIn(.POST, "email", "verify", "resend", roles: Role.everyone, use: recovery.resendVerification)
    links.open(.POST, "password", "forgot", use: recovery.forgot)
    links.open(.POST, "password", "reset", use: recovery.reset)

    let mfa = MFAController(identity: identity)
    let factors = account.grouped("mfa")
    factors.open(.POST, "totp", "setup", use: mfa.setup)
    factors.open(.POST, "totp", "confirm", use: mfa.confirm)
    factors.signedIn(.POST, "totp", "disable", roles: Role.everyone, use: mfa.disable)
    factors.signedIn(.POST, "recovery-codes", roles: Role.everyone, use: mfa.replaceRecoveryCodes)
    auth.grouped("mfa").limited(RateLimits.mfa).open(.POST, "verify", use: mfa.verify)

    let passkeys = PasskeyController(identity: identity)
    let keys = account.grouped("passkeys")
    keys.signedIn(.GET, roles: Role.everyone, use: passkeys.list)
    keys.signedIn(.POST, roles: Role.everyone, use: passkeys.register)
    keys.signedIn(.POST, "registration", "options", roles: Role.everyone, use: passkeys.registrationOptions)
    keys.signedIn(.PATCH, ":passkeyID", roles: Role.everyone, use: passkeys.rename)
    keys.signedIn(.DELETE, ":passkeyID", roles: Role.everyone, use: passkeys.remove)
    let passkeySignIn = auth.grouped("passkeys").limited(RateLimits.login)
    passkeySignIn.open(.POST, "authentication", "options", use: passkeys.authenticationOptions)
    passkeySignIn.open(.POST, "authentication", use: passkeys.authenticate)

    let accountSite = AccountPages(identity: identity).site
    for settings in config.signInProviders {
        let oidc = OIDCController(identity: identity, oidc: OIDCProvider(settings: settings), publicURL: config.publicURL, pages: accountSite)
        let provider = auth.grouped("oidc", PathComponent(stringLiteral: settings.slug)).limited(RateLimits.login)
        provider.open(.GET, "start", use: oidc.start)
        switch settings.responseMode {
        case .query:
            provider.open(.GET, "callback", use: oidc.callback)
        case .formPost:
            provider.crossSitePost("callback", why: "the provider's form_post answer: only relayed here, the relay checked", use: oidc.formPostCallback)
        }
    }

    let tenants = TenantController(audit: identity.audit, revocations: identity.revocations)
    let tenant = root.grouped("api", "tenants").limited(RateLimits.account)
    tenant.tenant(.GET, ":tenantID", roles: Role.everyone, use: tenants.show)
    tenant.tenant(.GET, ":tenantID", "members", roles: TenantController.managers, use: tenants.members)
    tenant.tenant(.PUT, ":tenantID", "members", ":userID", "role", roles: TenantController.managers, use: tenants.changeRole)
    tenant.tenant(.DELETE, ":tenantID", "members", ":userID", roles: TenantController.managers, use: tenants.remove)

    let admin = root.grouped("api", "admin").limited(RateLimits.account)
    admin.signedIn(.GET, "audit", roles: [.owner, .admin], use: AuditController().list)
    admin.signedIn(.POST, "privacy", "erase", roles: [.owner, .admin], use: PrivacyController(audit: identity.audit).erase)
}
