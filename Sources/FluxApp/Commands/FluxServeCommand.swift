import Fluent
import Vapor

/// `flux serve`: applies pending migrations, logs the staff setup link while no staff account exists, starts
/// the mail outbox, the conversation and upload housekeeping and the orphan object collection, then hands over
/// to Vapor's serve command, which listens and drains in-flight requests on SIGTERM and SIGINT.
struct FluxServeCommand: AsyncCommand {
    typealias Signature = ServeCommand.Signature

    let help = "Applies pending migrations, then serves HTTP until SIGTERM or SIGINT."
    private let serve: ServeCommand
    private let publicURL: URL

    init(serve: ServeCommand, publicURL: URL) {
        self.serve = serve
        self.publicURL = publicURL
    }

    func run(using context: CommandContext, signature: Signature) async throws {
        try await context.application.autoMigrate()
        try await StaffSetup.announceIfNeeded(on: context.application, publicURL: publicURL)
        context.application.outboxWorker.start(on: context.application)
        context.application.conversationHousekeeping.start(on: context.application)
        context.application.uploadHousekeeping.start(on: context.application)
        context.application.orphanObjectCollection.start(on: context.application)
        try await serve.run(using: context, signature: signature)
    }
}
