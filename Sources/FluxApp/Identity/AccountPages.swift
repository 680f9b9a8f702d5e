import Vapor

/// The small pages that the links Flux hands out open: the staff setup link logged at boot, and the email
/// verification and password reset links it mails, all from `Resources/Views/account.leaf`. Each reads its token from
/// the URL fragment (browsers never send a fragment to a server or in a Referer), and its own script, allowed by this
/// response's CSP nonce, posts it with a CSRF pair to the matching API route.
enum AccountPages {
    struct Field: Encodable {
        let id: String
        let label: String
        let type: String
        let autocomplete: String
        let required: Bool
    }

    struct Page: Sendable {
        let title: String
        let intro: String
        let fields: [Field]
        let button: String
        let endpoint: String
        let success: String
    }

    static let password = Field(id: "password", label: "Password (10 to 128 characters)", type: "password",
                                autocomplete: "new-password", required: true)

    /// `/hq-command/setup`, the link logged at boot while there is no staff account.
    static let setup = Page(title: "Create the owner account",
             intro: "This one-time page creates the first staff account.",
             fields: [Field(id: "email", label: "Email", type: "email", autocomplete: "username", required: true),
                      Field(id: "name", label: "Name", type: "text", autocomplete: "name", required: false), password],
             button: "Create account", endpoint: "/api/auth/setup", success: "The owner account exists. Sign in with it.")
    /// `/account/verify-email`, the link in the verification mail.
    static let verifyEmail = Page(title: "Confirm your email address",
             intro: "Confirm that this email address is yours.", fields: [],
             button: "Confirm", endpoint: "/api/auth/email/verify", success: "Your email address is confirmed.")
    /// `/account/reset-password`, the link in the password reset mail.
    static let resetPassword = Page(title: "Choose a new password",
             intro: "Choose a new password. Every device signed in to your account will be signed out.", fields: [password],
             button: "Set password", endpoint: "/api/auth/password/reset", success: "Your password is set. Sign in with it.")

    /// The handler that renders `page`.
    static func serve(_ page: Page) -> @Sendable (Request) async throws -> Response {
        { request in try await Response.page(request, "account", Context(page: page, nonce: request.cspNonce)) }
    }

    /// `Resources/Views/account.leaf`'s fields: the page's script reads the endpoint and the success message from the
    /// form's attributes, and posts every input of the form.
    struct Context: Encodable {
        let title, intro, button, endpoint, success, nonce: String
        let fields: [Field]

        init(page: Page, nonce: String) {
            title = page.title
            intro = page.intro
            button = page.button
            endpoint = page.endpoint
            success = page.success
            fields = page.fields
            self.nonce = nonce
        }
    }
}
