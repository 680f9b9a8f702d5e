/// What a member may do. Staff roles belong to the operator tenant (the company running Flux) and work in HQ;
/// client roles belong to a client organization and work in the portal.
enum Role: String, Codable, CaseIterable, Sendable {
    case owner, admin, engineer, sales
    case clientAdmin = "client_admin"
    case clientMember = "client_member"

    var isStaff: Bool {
        switch self {
        case .owner, .admin, .engineer, .sales: true
        case .clientAdmin, .clientMember: false
        }
    }

    /// The role in people's words, as pages show it.
    var label: String {
        switch self {
        case .owner: "Owner"
        case .admin: "Admin"
        case .engineer: "Engineer"
        case .sales: "Sales"
        case .clientAdmin: "Client admin"
        case .clientMember: "Client member"
        }
    }

    static let staff: Set<Role> = [.owner, .admin, .engineer, .sales]
    static let client: Set<Role> = [.clientAdmin, .clientMember]
    static let everyone = Set(Role.allCases)
    /// Staff who work with clients' own data (messaging, files, attachments, realtime channels): not sales,
    /// which reads analytics and signals only.
    static let clientDataStaff: Set<Role> = [.engineer, .admin, .owner]
    /// Who reaches an organization's messages and files: its own members and the staff who handle client data.
    static let clientData = client.union(clientDataStaff)
    /// Roles that cannot sign in without a second factor: enrolment is forced at their first sign-in.
    static let requiringMFA: Set<Role> = [.owner, .admin]
}
