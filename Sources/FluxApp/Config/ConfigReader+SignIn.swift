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
        config.relyingParty = readRelyingParty(publicURL: config.publicURL)
    }

    /// WEBAUTHN_RP_ID (PUBLIC_URL's host by default; a loopback address becomes `localhost`, since browsers refuse
    /// IP addresses as relying parties) and the origins passkeys may be used from: PUBLIC_URL's, its `localhost`
    /// spelling when PUBLIC_URL is a loopback address (development), and any in WEBAUTHN_ORIGINS (comma-separated,
    /// each on the relying party's domain or below it).
    private func readRelyingParty(publicURL: URL) -> RelyingParty {
        let host = publicURL.host ?? "localhost"
        let loopback = ["127.0.0.1", "::1", "[::1]", "localhost"].contains(host)
        let id = value("WEBAUTHN_RP_ID")?.lowercased() ?? (loopback ? "localhost" : host)
        if id.isEmpty || id.contains(where: { !($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) || id.allSatisfy({ $0.isNumber || $0 == "." }) {
            problem("WEBAUTHN_RP_ID", "must be a domain name (browsers refuse IP addresses as passkey relying parties)")
        } else if !(host == id || host.hasSuffix("." + id) || (loopback && id == "localhost")) {
            problem("WEBAUTHN_RP_ID", "must be PUBLIC_URL's host or a domain above it")
        }
        var origins = [Self.origin(of: publicURL)]
        if loopback, var local = URLComponents(url: publicURL, resolvingAgainstBaseURL: false) {
            local.host = "localhost"
            if let url = local.url { origins.append(Self.origin(of: url)) }
        }
        for text in (value("WEBAUTHN_ORIGINS") ?? "").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !text.isEmpty {
            guard let url = URL(string: text), let originHost = url.host, ["https", "http"].contains(url.scheme ?? ""),
                originHost == id || originHost.hasSuffix("." + id), url.path.isEmpty || url.path == "/",
                url.scheme == "https" || originHost == "localhost"
            else {
                problem("WEBAUTHN_ORIGINS", "must list origins such as https://\(id), on the relying party's domain (http:// only for localhost)")
                continue
            }
            origins.append(Self.origin(of: url))
        }
        return RelyingParty(id: id, origins: Array(Set(origins)).sorted())
    }

    /// `scheme://host[:port]`, as a browser writes an origin in clientDataJSON.
    private static func origin(of url: URL) -> String {
        let scheme = url.scheme ?? "https"
        let port = url.port.map { (scheme == "https" && $0 == 443) || (scheme == "http" && $0 == 80) ? "" : ":\($0)" } ?? ""
        return "\(scheme)://\(url.host ?? "localhost")\(port)"
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
