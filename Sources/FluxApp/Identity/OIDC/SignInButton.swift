import Foundation

/// A "Continue with …" link of a sign-in page (`Resources/Views/providers.leaf`), one per configured provider.
struct SignInButton: Encodable {
    /// The element id and the provider's slug: `google`, `apple`.
    let id: String
    /// The catalogue key of its words: `account.google`, `account.apple`.
    let label: String
    let href: String

    /// The buttons for `providers`, each starting a flow that returns to `next` (a path on this site); `nil` when
    /// none is configured, so a template's `#if` hides the whole block.
    static func all(_ providers: [OIDCSettings], next: String) -> [SignInButton]? {
        let returnTo = next.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        let buttons = providers.map {
            SignInButton(id: $0.slug, label: "account.\($0.slug)", href: "/api/auth/oidc/\($0.slug)/start?returnTo=\(returnTo)")
        }
        return buttons.isEmpty ? nil : buttons
    }
}
