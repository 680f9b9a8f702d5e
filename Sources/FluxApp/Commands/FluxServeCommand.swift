import Fluent
import Vapor

/// `flux serve`: applies pending migrations, then hands over to Vapor's serve command, which listens and
/// drains in-flight requests on SIGTERM and SIGINT.
struct FluxServeCommand: AsyncCommand {
    typealias Signature = ServeCommand.Signature

    let help = "Applies pending migrations, then serves HTTP until SIGTERM or SIGINT."
    private let serve: ServeCommand

    init(serve: ServeCommand) {
        self.serve = serve
    }

    func run(using context: CommandContext, signature: Signature) async throws {
        try await context.application.autoMigrate()
        try await serve.run(using: context, signature: signature)
    }
}
