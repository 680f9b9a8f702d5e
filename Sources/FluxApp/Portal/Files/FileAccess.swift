import Foundation

/// Who sees and who changes an organization's file. A file is seen by its uploader and, by its visibility,
/// by the organization or by staff who handle client data; it is changed or deleted by its uploader or, when
/// the organization sees it, by a client admin. What the caller may not see answers 404, like another
/// tenant's. The files API, messaging (attachments), the pages and the data exports all ask here.
enum FileAccess {
    static let notFound = AppError.notFound("No such file.")

    static func canSee(_ file: PortalFile, _ principal: Principal) -> Bool {
        if principal.role.isStaff { return Role.clientDataStaff.contains(principal.role) && file.visibility == .staff }
        guard principal.tenantID == file.tenantID else { return false }
        return file.uploadedBy == principal.userID || file.visibility == .tenant
    }

    static func canChange(_ file: PortalFile, _ principal: Principal) -> Bool {
        principal.tenantID == file.tenantID && canChange(uploadedBy: file.uploadedBy, visibility: file.visibility, principal)
    }

    /// For a file of the caller's own organization.
    static func canChange(uploadedBy: UUID, visibility: PortalFile.Visibility, _ principal: Principal) -> Bool {
        uploadedBy == principal.userID || (principal.role == .clientAdmin && visibility == .tenant)
    }
}
