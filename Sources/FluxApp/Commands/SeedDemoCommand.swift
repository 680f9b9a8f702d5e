import Fluent
import Foundation
import SQLKit
import Vapor

/// `flux seed-demo [--conversations N] [--days D]`: a realistic demo dataset, so a newcomer sees a living
/// HQ console a minute after cloning: client organizations with their users, staff, device sessions,
/// FluxAI conversations across industries, locales, funnel stages and outcomes with their events (tokens,
/// cached tokens, latency, model), and the tickets the converted ones produced, linked both ways.
/// Deterministic for a given size on a given database, so two fresh clones show the same console. Demo accounts have no password (they
/// cannot sign in); `flux create-admin` makes yours. Refused in production. It writes events the way chat
/// turns are recorded (``ConversationRecorder/insert(_:on:)``) and prints how fast they went in:
/// bench/chat.sh reads that as the event ingest rate.
struct SeedDemoCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "conversations", help: "How many FluxAI conversations (default 500).")
        var conversations: Int?

        @Option(name: "days", help: "Over how many days up to now they start (default 30).")
        var days: Int?
    }

    struct Refused: ReportedFailure {
        let description: String
    }

    let help = "Fills the database with a realistic demo dataset (not in production)."
    let environment: AppConfig.Environment

    static let organizations = ["Biella Yarns S.p.A.", "Pastificio Emiliano", "Gummiwerk Nord GmbH", "Laboratorios Ibéricos",
                                "Scierie des Vosges", "Tessitura Comasca"]
    static let people = ["Giulia Bianchi", "Marco Rossi", "Anna Schmidt", "Lucía García", "Claire Dubois", "Tom Baker",
                         "Sofia Conti", "Jonas Weber", "Elena Ruiz", "Hugo Martin"]
    static let devices = ["Chrome on macOS", "Firefox on Windows", "Safari on iPhone", "Edge on Windows", "Chrome on Android"]
    static let openers: [String: [String: String]] = [
        "en": ["textile": "We dry technical textiles after dyeing", "food": "We make fresh pasta and need faster pasteurising",
               "rubber": "We pre-heat rubber compound before vulcanisation", "pharma": "We dry pharmaceutical granulate",
               "wood": "We treat timber pallets for export"],
        "it": ["textile": "Asciughiamo filati dopo la tintura", "food": "Produciamo pasta fresca ripiena",
               "rubber": "Preriscaldiamo mescole di gomma", "pharma": "Essicchiamo granulati farmaceutici",
               "wood": "Trattiamo pallet in legno"],
        "es": ["textile": "Secamos tejidos técnicos", "food": "Producimos alimentos y snacks", "rubber": "Precalentamos caucho",
               "pharma": "Secamos granulado farmacéutico", "wood": "Tratamos madera para exportación"],
        "fr": ["textile": "Nous séchons des tissus techniques", "food": "Nous fabriquons de la nourriture surgelée",
               "rubber": "Nous préchauffons du caoutchouc", "pharma": "Nous séchons des médicaments",
               "wood": "Nous traitons du bois de palette"],
        "de": ["textile": "Wir trocknen technische Textilien", "food": "Wir stellen Lebensmittel her", "rubber": "Wir wärmen Gummi vor",
               "pharma": "Wir trocknen Tabletten-Granulat", "wood": "Wir behandeln Holz für den Export"],
    ]

    func run(using context: CommandContext, signature: Signature) async throws {
        guard environment != .production else {
            throw Refused(description: "seed-demo fills the database with invented people and chats; it does not run in production")
        }
        let count = signature.conversations ?? 500
        let days = signature.days ?? 30
        guard (1...5_000_000).contains(count), (1...3650).contains(days) else {
            throw Refused(description: "--conversations must be 1 to 5000000 and --days 1 to 3650")
        }
        let app = context.application
        try await app.autoMigrate()
        // Seeded by the size and by what is there already, so a second run adds new sessions, not clashing ones.
        var random = SeededRandom(seed: UInt64(count) &+ UInt64(try await AiConversation.query(on: app.db).count()) << 32)
        let now = Date()

        let people = try await seedPeople(on: app.db, random: &random, now: now)
        let clock = ContinuousClock()
        var eventTime = Duration.zero
        var totals = (events: 0, tickets: 0)
        let started = clock.now
        let batch = 500
        for first in stride(from: 0, to: count, by: batch) {
            var conversations: [AiConversation] = [], events: [AiEvent] = [], tickets: [OperationsSignal] = []
            for index in first..<min(first + batch, count) {
                let age = Double(days) * 86_400 * pow(random.unit(), 1.3)
                conversation(index, startedAt: now.addingTimeInterval(-age), now: now, random: &random,
                             into: &conversations, events: &events, tickets: &tickets)
            }
            let (batchConversations, batchTickets, batchEvents) = (conversations, tickets, events)
            try await app.db.writeTransaction { transaction in
                try await batchTickets.create(on: transaction)
                try await batchConversations.create(on: transaction)
            }
            // Events go in as chat turns' events do: the recorder's multi-row inserts, one transaction a batch.
            let eventsStarted = clock.now
            try await app.db.writeTransaction { transaction in
                try await ConversationRecorder.insert(batchEvents, on: transaction.sql)
            }
            eventTime += clock.now - eventsStarted
            totals.events += events.count
            totals.tickets += tickets.count
        }
        let seconds = Double((clock.now - started) / .milliseconds(1)) / 1000
        let eventSeconds = Double(eventTime / .microseconds(1)) / 1_000_000
        try await AuditLog.write("demo.seeded", actor: nil, tenant: nil, target: nil,
                                 metadata: ["conversations": String(count), "events": String(totals.events)], on: app.db)
        context.console.print("Seeded \(people) people in \(Self.organizations.count) client organizations, \(count) conversations, "
                              + "\(totals.events) events and \(totals.tickets) tickets in \(String(format: "%.1f", seconds)) s.")
        context.console.print("event ingest: \(Int(Double(totals.events) / max(eventSeconds, 0.000_001))) events/s")
    }

    /// Client organizations with their users, staff, and a few device sessions each; returns how many people.
    private func seedPeople(on database: any Database, random: inout SeededRandom, now: Date) async throws -> Int {
        var people = 0
        var sessions: [AuthSession] = []
        let operatorTenant = try await Accounts.operatorTenant(on: database)
        let staff: [(String, Role)] = [("sales", .sales), ("sales.emea", .sales), ("engineer", .engineer), ("field.engineer", .engineer),
                                       ("admin", .admin)]
        for (local, role) in staff {
            let email = "\(local)@demo.flux.example"
            guard try await User.query(on: database).filter(\.$email == email).first() == nil else { continue }
            let user = User(email: email, passwordHash: nil, displayName: Self.people[people % Self.people.count])
            try await user.create(on: database)
            try await Membership(userID: user.id!, tenantID: operatorTenant.id!, role: role).create(on: database)
            sessions.append(session(user, operatorTenant, role, random: &random, now: now))
            people += 1
        }
        for (index, name) in Self.organizations.enumerated() {
            guard try await Tenant.query(on: database).filter(\.$name == name).first() == nil else { continue }
            let tenant = Tenant(name: name, kind: .client, status: ["active", "onboarding", "active", "paused"][index % 4],
                                createdAt: now.addingTimeInterval(-Double(index + 1) * 86_400 * 20))
            try await tenant.create(on: database)
            for member in 0..<(1 + index % 3) {
                let user = User(email: "client\(index)-\(member)@demo.flux.example", passwordHash: nil,
                                displayName: Self.people[(index * 3 + member) % Self.people.count])
                try await user.create(on: database)
                let role: Role = member == 0 ? .clientAdmin : .clientMember
                try await Membership(userID: user.id!, tenantID: tenant.id!, role: role).create(on: database)
                sessions.append(session(user, tenant, role, random: &random, now: now))
                people += 1
            }
        }
        try await sessions.create(on: database)
        return people
    }

    private func session(_ user: User, _ tenant: Tenant, _ role: Role, random: inout SeededRandom, now: Date) -> AuthSession {
        let started = now.addingTimeInterval(-random.unit() * 7 * 86_400)
        return AuthSession(userID: user.id!, tenantID: tenant.id!, role: role, deviceLabel: random.pick(Self.devices),
                           ipHash: String(format: "%032x", random.next()), now: started, lifetime: 30 * 86_400)
    }

    /// One conversation as a visitor would have had it, its events, and its ticket when it converted.
    private func conversation(_ index: Int, startedAt: Date, now: Date, random: inout SeededRandom,
                              into conversations: inout [AiConversation], events: inout [AiEvent], tickets: inout [OperationsSignal]) {
        let locale = random.pick(["en", "en", "it", "it", "de", "es", "fr"])
        let industry: String? = random.unit() < 0.15 ? nil : random.pick(IndustryDetector.industries.sorted())
        let conversation = AiConversation(sessionID: "demo-\(index)-\(random.next() % 1_000_000)", visitorIP: String(format: "%032x", random.next()),
                                          locale: locale, pageURL: random.pick(["/", "/cases/textile-drying", "/equipment", "/contact"]), now: startedAt)
        var stage = AiConversation.FunnelStage.discovery
        if industry != nil {
            let roll = random.unit()
            stage = roll < 0.35 ? .qualify : roll < 0.75 ? .recommend : .handoff
        }
        conversation.industryLabel = industry
        conversation.funnelStage = stage
        // One to six questions: about ten events a conversation, so 100k conversations carry the million events
        // HQ's dashboard is measured against (bench/analytics.sh).
        var turns = 1 + Int(random.unit() * 6)
        var tools: [(ToolUse.Name, String)] = []
        if stage.rank >= AiConversation.FunnelStage.recommend.rank, let industry {
            let volume = (random.unit() * 80 + 2).rounded()
            let percent = AssistantTools.savings(industry: industry, volume: volume)
            conversation.productionVolume = volume
            conversation.estimatedSavingsPercent = percent
            tools.append((.savingsCalculator, "estimatedSavingsPercent=\(percent)"))
            if random.unit() < 0.5 { tools.append((.caseStudies, AssistantTools.caseStudies[industry] ?? "")) }
            turns += 1
        }
        if stage == .handoff { tools.append((.consultationHandoff, AssistantTools.handoff)); turns += 1 }

        var at = startedAt
        for turn in 0..<turns {
            let question = turn == 0 ? (industry.flatMap { Self.openers[locale]?[$0] } ?? "Hello, what do you do?") : "Tell me more, please."
            events.append(AiEvent(conversationID: conversation.id!, type: .userMessage, payload: AiEvent.payload(["text": question]), now: at))
            if turn > 0, !tools.isEmpty {
                let (name, result) = tools.removeFirst()
                at += 0.05
                events.append(AiEvent(conversationID: conversation.id!, type: .toolCall, payload: AiEvent.payload(["industry": industry ?? "any"]),
                                      toolName: name.rawValue, now: at))
                events.append(AiEvent(conversationID: conversation.id!, type: .toolResult, payload: AiEvent.payload(["result": result]),
                                      toolName: name.rawValue, now: at))
                conversation.toolCallCount += 1
            }
            let latency = 300 + Int(random.unit() * 2500)
            at += Double(latency) / 1000
            let tokensIn = 900 + turn * 250 + Int(random.unit() * 200)
            events.append(AiEvent(conversationID: conversation.id!, type: .aiMessage,
                                  payload: AiEvent.payload(["text": "Thanks. RF heating could help; here is what we know."]),
                                  latencyMs: latency, tokensIn: tokensIn, tokensOut: 60 + Int(random.unit() * 140),
                                  cachedTokens: turn == 0 ? 0 : 768, model: random.unit() < 0.9 ? "gpt-4o-mini" : "gpt-4.1-mini", now: at))
            conversation.messageCount += 2
            at += 20 + random.unit() * 90
        }
        if random.unit() < 0.02 {
            events.append(AiEvent(conversationID: conversation.id!, type: .error,
                                  payload: AiEvent.payload(["error": "the model service answered 429: Rate limit reached"]), now: at))
        }
        conversation.lastMessageAt = at
        let idle = now.timeIntervalSince(at) > 30 * 60
        if stage == .handoff, random.unit() < 0.7 {
            let ticket = OperationsSignal()
            ticket.id = UUID()
            ticket.status = random.pick(OperationsSignal.Status.allCases)
            let person = random.pick(Self.people)
            ticket.name = person
            ticket.company = random.pick(Self.organizations)
            ticket.email = person.lowercased().replacingOccurrences(of: " ", with: ".").folding(options: .diacriticInsensitive, locale: nil)
                + "@example.com"
            ticket.message = "We would like a quote for an RF line."
            ticket.preferredContact = random.pick(OperationsSignal.PreferredContact.allCases)
            ticket.conversationInsights = #"["industry: \#(industry ?? "unknown")"]"#
            ticket.suggestedTopics = #"["energy savings"]"#
            ticket.pageURL = conversation.pageURL
            ticket.sessionID = conversation.sessionID
            ticket.ipHash = conversation.visitorIP
            ticket.createdAt = at
            ticket.updatedAt = at
            tickets.append(ticket)
            conversation.outcome = .consultation
            conversation.signalID = ticket.id
            conversation.closedAt = at
        } else if idle {
            conversation.outcome = .abandoned
            conversation.closedAt = at.addingTimeInterval(30 * 60)
        }
        conversations.append(conversation)
    }
}

/// SplitMix64: a small, fast generator whose sequence depends only on its seed (demo data repeats exactly).
struct SeededRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    mutating func pick<T>(_ choices: [T]) -> T { choices[Int(next() % UInt64(choices.count))] }
}
