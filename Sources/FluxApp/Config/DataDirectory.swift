import Foundation

/// The data directory (SQLite database, development secret, later uploads and mail) and the checks on it.
enum DataDirectory {
    struct Failure: Error {
        let reason: String
    }

    /// Creates the directory (0700) when missing and proves it is writable by writing and removing a file.
    static func prepare(_ directory: URL) throws(Failure) {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        if fileManager.fileExists(atPath: directory.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw Failure(reason: "it exists and is not a directory") }
        } else {
            do {
                try fileManager.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
            } catch {
                throw Failure(reason: "it cannot be created")
            }
        }
        let probe = directory.appendingPathComponent(".write-probe-\(UUID().uuidString)")
        guard fileManager.createFile(atPath: probe.path, contents: Data()) else {
            throw Failure(reason: "a file cannot be created in it")
        }
        try? fileManager.removeItem(at: probe)
    }

    /// Returns the development secret kept in `directory/secret`, generating it on first use.
    /// `created` is true when this call wrote it.
    static func developmentSecret(in directory: URL) throws(Failure) -> (secret: String, created: Bool) {
        let file = directory.appendingPathComponent("secret")
        if let existing = try? String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
            !existing.isEmpty
        {
            return (existing, false)
        }
        var bytes = [UInt8](repeating: 0, count: 48)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = generator.next() }
        let secret = Data(bytes).base64EncodedString()
        // O_EXCL with mode 0600: the file is never readable by others, not even for a moment, and two
        // processes starting together cannot both write one.
        let descriptor = open(file.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            if errno == EEXIST, let raced = try? String(contentsOf: file, encoding: .utf8) {
                return (raced.trimmingCharacters(in: .whitespacesAndNewlines), false)
            }
            throw Failure(reason: "cannot create \(file.path)")
        }
        defer { close(descriptor) }
        let written = secret.utf8CString.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count - 1) }
        guard written == secret.utf8.count else { throw Failure(reason: "cannot write \(file.path)") }
        return (secret, true)
    }
}
