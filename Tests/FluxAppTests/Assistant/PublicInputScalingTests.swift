@testable import FluxApp
import Foundation
import Testing

/// What a visitor types is read by these parsers, so none may take time that grows faster than the text: a
/// quadratic one lets a few long messages occupy the server. Each is timed on 10,000 and 100,000 characters in
/// one run; linear work gives a ratio near 10, quadratic backtracking about 100. Flux applies no regular
/// expression to public input; one added later belongs in ``Parser``.
@Suite struct PublicInputScalingTests {
    enum Parser: String, CaseIterable, Sendable {
        case productionVolume, productionVolumeWithDecimals, industry, mentions

        func parse(_ size: Int) -> () -> Void {
            let digits = String(repeating: "7", count: size)
            switch self {
            case .productionVolume:
                return { _ = OfflineAssistant.productionVolume(in: digits) }
            case .productionVolumeWithDecimals:
                let text = String(repeating: "7,7 ", count: size / 4)
                return { _ = OfflineAssistant.productionVolume(in: text) }
            case .industry:
                return { _ = IndustryDetector.detect(digits) }
            case .mentions:
                return { _ = OfflineAssistant.mentions(digits.lowercased(), OfflineAssistant.savingsWords) }
            }
        }
    }

    @Test(arguments: Parser.allCases)
    func timeGrowsLinearlyWithTheInput(parser: Parser) {
        let small = parser.parse(10_000), large = parser.parse(100_000)
        small()
        // The fastest of a few alternating runs, in this thread's CPU time: the machine is shared, and wall
        // time would count the neighbours' work whenever the longer run is preempted.
        var fastestSmall = Duration.seconds(3600), fastestLarge = Duration.seconds(3600)
        for _ in 0..<5 {
            fastestSmall = min(fastestSmall, Self.threadTime(small))
            fastestLarge = min(fastestLarge, Self.threadTime(large))
        }
        let ratio = fastestLarge / fastestSmall
        #expect(ratio < 20, "\(parser): 100,000 characters took \(ratio) times as long as 10,000")
    }

    private static func threadTime(_ work: () -> Void) -> Duration {
        func now() -> Duration {
            var time = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
            return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
        }
        let started = now()
        work()
        return now() - started
    }

    @Test func aNumberNoPlantProducesIsNotAVolume() {
        #expect(OfflineAssistant.productionVolume(in: "we make 20 t/day") == 20)
        #expect(OfflineAssistant.productionVolume(in: "500 kg per hour") == 0.5)
        #expect(OfflineAssistant.productionVolume(in: "about 12,5 tonnes") == 12.5)
        #expect(OfflineAssistant.productionVolume(in: "1.2.3 t") == 2.3)
        #expect(OfflineAssistant.productionVolume(in: "20 tonnellatex, 5 tons") == 5)
        #expect(OfflineAssistant.productionVolume(in: "20t5") == nil)
        #expect(OfflineAssistant.productionVolume(in: "20000000000000000000 t") == nil)
        #expect(OfflineAssistant.productionVolume(in: String(repeating: "9", count: 400) + " t") == nil)
        #expect(AssistantTools.run(.savingsCalculator, arguments: ["productionVolume": "inf"],
                                   context: AssistantContext(locale: "en", industry: nil, productionVolume: 3)).productionVolume == 3)
        #expect(AssistantTools.run(.savingsCalculator, arguments: ["productionVolume": "-5"],
                                   context: AssistantContext(locale: "en", industry: nil, productionVolume: nil)).productionVolume == 1)
    }

    /// A number too large for an Int reached `Int(value)` in the reply's wording and ended the process.
    @Test func aHugeNumberGetsAnAnswerNotACrash() async throws {
        let context = AssistantContext(locale: "en", industry: nil, productionVolume: nil)
        let turn = try await OfflineAssistant().reply(to: "we dry 20000000000000000000 t of pasta, what saving?", context: context) { _ in }
        #expect(!turn.text.isEmpty)
        #expect(OfflineAssistant.Phrases.number(1e300) == String(format: "%.0f", 1e300))
        #expect(OfflineAssistant.Phrases.number(2.5) == "2.5")
        #expect(OfflineAssistant.Phrases.number(20) == "20")
    }
}
