import FluxSecurity
import Foundation

/// The sign-in providers: Google (OIDC_GOOGLE_*) and Sign in with Apple (OIDC_APPLE_*).
extension ConfigReader {
    func readSignInProviders(into config: inout AppConfig) {
        switch (value("OIDC_GOOGLE_CLIENT_ID"), value("OIDC_GOOGLE_CLIENT_SECRET")) {
        case let (clientID?, clientSecret?):
            if let issuer = Self.serviceURL(value("OIDC_GOOGLE_ISSUER") ?? "https://accounts.google.com") {
                config.googleSignIn = .google(issuer: issuer, clientID: clientID, clientSecret: SecretValue(clientSecret))
            } else {
                problem("OIDC_GOOGLE_ISSUER", "must be an https:// URL (http:// only on loopback, for tests)")
            }
        case (nil, nil):
            break
        case (nil, _):
            problem("OIDC_GOOGLE_CLIENT_ID", "must be set with OIDC_GOOGLE_CLIENT_SECRET")
        case (_, nil):
            problem("OIDC_GOOGLE_CLIENT_SECRET", "must be set with OIDC_GOOGLE_CLIENT_ID")
        }
        config.appleSignIn = readAppleSignIn()
    }

    /// OIDC_APPLE_CLIENT_ID (the Services ID), OIDC_APPLE_TEAM_ID, OIDC_APPLE_KEY_ID, the key's PEM in
    /// OIDC_APPLE_PRIVATE_KEY or the file OIDC_APPLE_PRIVATE_KEY_FILE, and OIDC_APPLE_ISSUER: all or none. The key is
    /// parsed here, so a bad one is a configuration problem at start, and its text is never quoted back.
    private func readAppleSignIn() -> OIDCSettings? {
        let required = ["OIDC_APPLE_CLIENT_ID", "OIDC_APPLE_TEAM_ID", "OIDC_APPLE_KEY_ID"]
        let keyText = value("OIDC_APPLE_PRIVATE_KEY"), keyFile = value("OIDC_APPLE_PRIVATE_KEY_FILE")
        let named = (required + ["OIDC_APPLE_ISSUER"]).filter { value($0) != nil }
        guard !named.isEmpty || keyText != nil || keyFile != nil else { return nil }
        for name in required where value(name) == nil {
            problem(name, "must be set with the other OIDC_APPLE_* variables")
        }
        for name in ["OIDC_APPLE_TEAM_ID", "OIDC_APPLE_KEY_ID"] {
            if let id = value(name), id.count != 10 || !id.allSatisfy({ $0.isASCII && ($0.isUppercase || $0.isNumber) }) {
                problem(name, "must be the 10 capital letters and digits Apple shows for it")
            }
        }
        var pem: String?
        switch (keyText, keyFile) {
        case (nil, nil):
            problem("OIDC_APPLE_PRIVATE_KEY", "must be set (or OIDC_APPLE_PRIVATE_KEY_FILE) with the other OIDC_APPLE_* variables")
        case (_?, _?):
            problem("OIDC_APPLE_PRIVATE_KEY_FILE", "must not be set with OIDC_APPLE_PRIVATE_KEY: give the key one way")
        case (let text?, nil):
            // An env file holds one line per variable, so the PEM's line breaks often arrive written as \n.
            pem = text.replacingOccurrences(of: "\\n", with: "\n")
        case (nil, let path?):
            if let contents = FileManager.default.contents(atPath: path) {
                pem = String(decoding: contents, as: UTF8.self)
            } else {
                problem("OIDC_APPLE_PRIVATE_KEY_FILE", "names a file that cannot be read")
            }
        }
        let issuer = Self.serviceURL(value("OIDC_APPLE_ISSUER") ?? "https://appleid.apple.com")
        if issuer == nil { problem("OIDC_APPLE_ISSUER", "must be an https:// URL (http:// only on loopback, for tests)") }
        var secret: AppleClientSecret?
        if let pem, let teamID = value("OIDC_APPLE_TEAM_ID"), let keyID = value("OIDC_APPLE_KEY_ID") {
            secret = try? AppleClientSecret(teamID: teamID, keyID: keyID, privateKeyPEM: pem)
            if secret == nil {
                problem(keyFile == nil ? "OIDC_APPLE_PRIVATE_KEY" : "OIDC_APPLE_PRIVATE_KEY_FILE",
                        "is not a P-256 private key in PEM (Apple's AuthKey_<key id>.p8, -----BEGIN PRIVATE KEY-----)")
            }
        }
        guard let issuer, let secret, let clientID = value("OIDC_APPLE_CLIENT_ID") else { return nil }
        return .apple(issuer: issuer, clientID: clientID, secret: secret)
    }
}
