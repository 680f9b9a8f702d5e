import Foundation
import Vapor

/// What the files API answers.
extension PortalFilesController {
    struct FileView: Content {
        let id: UUID
        let folderId: UUID?
        let name: String
        let contentType: String
        let size: Int64
        let sha256: String
        let visibility: PortalFile.Visibility
        let uploadedBy: UUID
        let createdAt: Date
        let updatedAt: Date
    }

    struct FolderView: Content {
        let id: UUID
        let parentId: UUID?
        let name: String
    }

    struct Listing: Content {
        let folder: FolderView?
        let folders: [FolderView]
        let files: [FileView]
        let usedBytes: Int64
        let quotaBytes: Int
    }

    static func view(_ file: PortalFile) -> FileView {
        FileView(id: file.id!, folderId: file.folderID, name: file.name, contentType: file.contentType, size: file.size, sha256: file.sha256,
                 visibility: file.visibility, uploadedBy: file.uploadedBy, createdAt: file.createdAt, updatedAt: file.updatedAt)
    }

    static func view(_ folder: PortalFolder) -> FolderView {
        FolderView(id: folder.id!, parentId: folder.parentID, name: folder.name)
    }

    struct ShareView: Content {
        let id: UUID
        let url: String
        let expiresAt: Date
    }
}
