import Foundation
import Vapor

/// `flux files migrate --to s3|local [--limit N]`: copies every stored file of this installation (public
/// uploads, portal files, message attachments) between DATA_DIR and the S3 bucket named by the FILES_S3_*
/// variables, while the server keeps serving from the store it was started with. Each copy is read back and
/// its size and SHA-256 checked against its row; a journal in DATA_DIR records what was verified, so a run that
/// is interrupted (or stopped by `--limit`) resumes without copying anything twice. It changes no setting: once
/// a run ends with every object verified, start the servers with the new store's settings, then run it once
/// more to copy what arrived in between.
struct FilesCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Argument(name: "action", help: "migrate")
        var action: String
        @Option(name: "to", help: "s3 or local: where the files go.")
        var to: String?
        @Option(name: "limit", help: "Copy at most this many objects in this run (the journal keeps the rest for the next).")
        var limit: Int?
    }

    let help = "Copies every stored file to S3 or back to DATA_DIR, verified and resumable (flux files migrate --to s3|local)."
    let config: AppConfig

    func run(using context: CommandContext, signature: Signature) async throws {
        guard signature.action == "migrate" else {
            throw StoreMigrationFailure(description: "unknown action \"\(signature.action)\": the only one is migrate")
        }
        guard let settings = config.objectStorage else {
            throw StoreMigrationFailure(description: "FILES_S3_BUCKET is not set: give this command the FILES_S3_* variables of the bucket")
        }
        let app = context.application
        let local = LocalBlobStore(root: config.dataDirectory, threadPool: app.threadPool)
        let bucket = app.blobStore
        let (source, target): (any BlobStore, any BlobStore)
        let targetName: String
        switch signature.to {
        case "s3":
            (source, target) = (local, bucket)
            targetName = "s3 \(settings.endpoint.absoluteString) \(settings.bucket)"
        case "local":
            (source, target) = (bucket, local)
            targetName = "local \(config.dataDirectory.path)"
        default:
            throw StoreMigrationFailure(description: "--to must be s3 or local")
        }
        if case .failure(let problem) = await DoctorCommand.storageCheck(config, store: bucket) {
            throw StoreMigrationFailure(description: "the bucket cannot be used: \(problem.text)")
        }
        let journal = config.dataDirectory.appendingPathComponent("files-migration-to-\(signature.to!).journal")
        let migration = StoreMigration(source: source, target: target, targetName: targetName, journal: journal)
        let objects = try await StoreMigration.objects(on: app.db)
        let report = try await migration.run(objects, limit: signature.limit) { line in
            context.console.output(line.consoleText())
        }
        context.console.output(("\(report.total) object(s): \(report.copied) copied (\(report.bytesCopied) bytes), "
            + "\(report.alreadyVerified) verified by an earlier run, \(report.remaining) left for a later run, "
            + "\(report.missing.count) missing from the source, \(report.mismatched.count) not matching their row").consoleText())
        guard report.complete else {
            throw StoreMigrationFailure(description: report.remaining > 0
                ? "not finished: run the same command again to copy the rest"
                : "not every object could be verified: nothing was switched; see the lines above")
        }
        context.console.output("every object is in the target and verified; switch the servers' settings when ready".consoleText())
    }
}
