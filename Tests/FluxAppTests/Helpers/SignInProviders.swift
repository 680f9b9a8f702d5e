import Crypto

/// OIDC_APPLE_* with a fresh P-256 key: Sign in with Apple configured (no test here reaches Apple).
func appleSignInEnvironment(key: P256.Signing.PrivateKey = P256.Signing.PrivateKey()) -> [String: String] {
    ["OIDC_APPLE_CLIENT_ID": "com.example.flux", "OIDC_APPLE_TEAM_ID": "TEAM123456", "OIDC_APPLE_KEY_ID": "KEY1234567",
     "OIDC_APPLE_PRIVATE_KEY": key.pemRepresentation]
}
