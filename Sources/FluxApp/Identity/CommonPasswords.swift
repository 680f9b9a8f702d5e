/// The shipped list of common and breached passwords a new password is checked against (NIST SP 800-63B
/// 5.1.1.2), compared without regard to case, since "Password1234" is no better than "password1234".
enum CommonPasswords {
    static let set: Set<String> = Set(list.split(separator: "\n").map { $0.lowercased() })

    static func contains(_ password: String) -> Bool {
        set.contains(password.lowercased())
    }
}
