import FluxSecurity
import Foundation
import Vapor

/// `flux create-admin --email EMAIL [--role owner|admin|engineer|sales]`: a staff account. The password is
/// read from a prompt that does not echo, or from standard input when it is not a terminal, never from the
/// command line, where `ps` and shell history would keep it.
struct CreateAdminCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "email", help: "The staff member's email address.")
        var email: String?

        @Option(name: "role", help: "owner (default), admin, engineer or sales.")
        var role: String?
    }

    struct Refused: ReportedFailure {
        let description: String
    }

    let help = "Creates a staff account; the password comes from a prompt or standard input."
    let passwords: PasswordHasher

    func run(using context: CommandContext, signature: Signature) async throws {
        guard let email = signature.email.flatMap(EmailAddress.normalized) else {
            throw Refused(description: "--email must be a valid email address")
        }
        let roleName = signature.role ?? Role.owner.rawValue
        guard let role = Role(rawValue: roleName), role.isStaff else {
            throw Refused(description: "--role must be one of owner, admin, engineer, sales")
        }
        let password = try readPassword(context.console)
        var errors = FieldErrors()
        PasswordPolicy.check(password, into: &errors)
        if let problem = errors.fields["password"] { throw Refused(description: "the password \(problem)") }

        let app = context.application
        try await app.autoMigrate()
        let user: User
        do {
            user = try await Accounts(passwords: passwords).createStaff(email: email, password: password, role: role, on: app.db)
        } catch Accounts.Failure.emailTaken {
            throw Refused(description: "an account with this email exists")
        }
        try await AuditLog.write("admin.created", actor: nil, tenant: nil, target: email,
                                 metadata: ["role": role.rawValue, "via": "flux create-admin"], on: app.db)
        context.console.print("Created \(role.rawValue) \(email) (\(user.id!.uuidString)).")
    }

    private func readPassword(_ console: any Console) throws -> String {
        if isatty(STDIN_FILENO) == 1 {
            let first = console.ask("Password (not shown): ", isSecure: true)
            let second = console.ask("Repeat it: ", isSecure: true)
            guard first == second else { throw Refused(description: "the two passwords differ") }
            return first
        }
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw Refused(description: "no password on standard input")
        }
        return line
    }
}
