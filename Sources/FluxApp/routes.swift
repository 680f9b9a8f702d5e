import Vapor

func routes(_ app: Application, config: AppConfig, metrics: HTTPMetrics) throws {
    try app.register(collection: HealthController())
    try app.register(collection: MetricsController(metrics: metrics, token: config.metricsToken))
}
