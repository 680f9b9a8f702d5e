import Fluent
import Foundation

/// Creating accounts, shared by registration, the staff setup link and `flux create-admin`.
struct Accounts: Sendable {
    let passwords: PasswordHasher

    enum Failure: Error, Equatable {
        case emailTaken
    }

    /// The operator tenant (the company running Flux), created the first time staff is added.
    static func operatorTenant(on database: any Database) async throws -> Tenant {
        if let existing = try await Tenant.query(on: database).filter(\.$kind == .operator).first() { return existing }
        let tenant = Tenant(name: "Operator", kind: .operator, status: "active")
        try await tenant.create(on: database)
        return tenant
    }

    static func staffExists(on database: any Database) async throws -> Bool {
        try await Membership.query(on: database).filter(\.$role ~~ Array(Role.staff)).first() != nil
    }

    /// A staff account with `role` in the operator tenant.
    func createStaff(email: String, password: String, role: Role, displayName: String? = nil,
                     on database: any Database) async throws -> User {
        precondition(role.isStaff)
        let hash = try await passwords.hash(password)
        return try await database.writeTransaction { transaction in
            guard try await User.query(on: transaction).filter(\.$email == email).first() == nil else { throw Failure.emailTaken }
            let tenant = try await Self.operatorTenant(on: transaction)
            let user = User(email: email, passwordHash: hash, displayName: displayName)
            // An operator created it for this address: it counts as verified (a provider cannot claim it).
            user.emailVerifiedAt = Date()
            try await user.create(on: transaction)
            try await Membership(userID: user.id!, tenantID: tenant.id!, role: role).create(on: transaction)
            return user
        }
    }

    /// A client account as the administrator of a new client organization named `organization`; `also` runs in
    /// the same transaction (the verification mail is queued there, so it exists exactly when the account does).
    func createClient(email: String, passwordHash: String?, displayName: String?, organization: String,
                      on database: any Database,
                      also: @escaping @Sendable (User, any Database) async throws -> Void = { _, _ in }) async throws -> (User, Tenant) {
        try await database.writeTransaction { transaction in
            guard try await User.query(on: transaction).filter(\.$email == email).first() == nil else { throw Failure.emailTaken }
            let user = User(email: email, passwordHash: passwordHash, displayName: displayName)
            try await user.create(on: transaction)
            let tenant = Tenant(name: organization, kind: .client, status: "onboarding")
            try await tenant.create(on: transaction)
            try await Membership(userID: user.id!, tenantID: tenant.id!, role: .clientAdmin).create(on: transaction)
            try await also(user, transaction)
            return (user, tenant)
        }
    }
}
