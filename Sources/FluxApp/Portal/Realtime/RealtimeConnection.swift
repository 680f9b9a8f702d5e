import Fluent
import FluxSecurity
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import SQLKit
import Vapor

/// One open socket: who it is, and the frames written to it but not yet taken by the client.
///
/// Everything the fan-out touches lives on the socket's event loop (``delivery``), so delivering an event
/// takes no lock; callers elsewhere hand their work to that loop (`execute`, which keeps the order it was
/// handed in).
final class RealtimeConnection: Sendable {
    let id = UUID()
    let principal: Principal
    /// How the others in a conversation see this person.
    let name: String
    let socket: WebSocket
    /// The socket's event loop, read once: the hub groups every fan-out by it.
    let eventLoop: any EventLoop
    private let delivery: NIOLoopBoundBox<Delivery>
    private let commands = NIOLockedValueBox(CommandBudget())
    /// Called once when the connection is cut off: the hub stops fanning out to it at once, before the
    /// socket has finished closing.
    private let cutOff: @Sendable (RealtimeConnection) -> Void

    private struct Delivery {
        var pendingBytes = 0
        /// Subscriptions whose backlog is being read: live frames wait here meanwhile, so none overtakes it.
        var catchingUp = 0
        var held: [(id: Int64?, frame: ByteBuffer)] = []
        var cut = false
    }

    private struct CommandBudget {
        var tokens = Double(RealtimeConnection.commandLimit.limit)
        var refilled = Date()
        var lastTyping: [UUID: ContinuousClock.Instant] = [:]
    }

    /// Frames a client may leave unread before it is cut off as too slow (the others never wait for it).
    static let maxPendingBytes = 1 << 20
    static let maxHeldEvents = 10_000
    /// Client commands: a burst of 20, then 5 a second (FluxSecurity's token bucket, kept per socket).
    static let commandLimit = RateLimitPolicy(name: "realtime-commands", limit: 20, period: 4)
    /// Close code for a client cut off for not reading (an application code, 4000–4999).
    static let tooSlow = WebSocketErrorCode.unknown(4008)
    /// Close code for a socket whose session was revoked or expired.
    static let sessionEnded = WebSocketErrorCode.unknown(4401)

    /// Made on the socket's event loop (in the upgrade callback), which owns its delivery state.
    init(principal: Principal, name: String, socket: WebSocket, cutOff: @escaping @Sendable (RealtimeConnection) -> Void) {
        self.principal = principal
        self.name = String(name.prefix(100))
        self.socket = socket
        eventLoop = socket.eventLoop
        delivery = NIOLoopBoundBox(Delivery(), eventLoop: socket.eventLoop)
        self.cutOff = cutOff
    }

    /// Closes the socket from any thread. On the socket's loop, like the rest of WebSocketKit's work: its close
    /// reads and then sets its "closing" flag in two steps, which two threads could both pass.
    func close(code: WebSocketErrorCode) {
        eventLoop.execute { self.socket.close(code: code, promise: nil) }
    }

    /// Sends a frame of the connection's own (an answer to a command) from any thread.
    func send(_ frame: ByteBuffer) {
        eventLoop.execute { self.write(frame, written: nil) }
    }

    func send(json: some Encodable) {
        guard let data = try? RealtimeHub.encoder.encode(json) else { return }
        send(ByteBuffer(data: data))
    }

    /// Sends a fanned-out frame now, or holds it while a backlog is read; `written` runs once this socket is
    /// done with it (written to the kernel, held, or dropped). On the socket's event loop.
    func receive(_ frame: ByteBuffer, id: Int64?, written: (@Sendable () -> Void)?) {
        if delivery.value.cut {
            written?()
        } else if delivery.value.catchingUp == 0 {
            write(frame, written: written)
        } else if delivery.value.held.count < Self.maxHeldEvents {
            delivery.value.held.append((id, frame))
            written?()
        } else {
            cut()
            written?()
        }
    }

    /// On the socket's event loop.
    private func write(_ frame: ByteBuffer, written: (@Sendable () -> Void)?) {
        guard !delivery.value.cut else {
            written?()
            return
        }
        let size = frame.readableBytes
        delivery.value.pendingBytes += size
        guard delivery.value.pendingBytes <= Self.maxPendingBytes else {
            cut()
            written?()
            return
        }
        let promise = eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { [delivery] _ in
            delivery.value.pendingBytes -= size
            written?()
        }
        socket.send(frame, opcode: .text, promise: promise)
    }

    /// On the socket's event loop.
    private func cut() {
        delivery.value.cut = true
        socket.close(code: Self.tooSlow, promise: nil)
        cutOff(self)
    }

    /// Holds live frames from now until ``endCatchUp(sending:skipping:)``. Handed to the loop by the hub before
    /// any fan-out that could reach this subscription, so the two run in that order.
    func beginCatchUp() {
        eventLoop.execute { self.delivery.value.catchingUp += 1 }
    }

    /// Sends `first`, then the live frames held meanwhile that `first` did not already contain.
    func endCatchUp(sending first: [ByteBuffer], skipping sent: Set<Int64>) {
        eventLoop.execute {
            self.delivery.value.catchingUp -= 1
            for frame in first { self.write(frame, written: nil) }
            guard self.delivery.value.catchingUp == 0 else { return }
            let held = self.delivery.value.held
            self.delivery.value.held.removeAll()
            for (id, frame) in held where id.map({ !sent.contains($0) }) ?? true { self.write(frame, written: nil) }
        }
    }

    /// Takes one token for a client command; `false` when the client is sending too fast.
    func admit(now: Date = Date()) -> Bool {
        commands.withLockedValue { budget in
            let (decision, tokens) = RateLimitDecision.consume(tokens: budget.tokens, updated: budget.refilled, now: now, policy: Self.commandLimit)
            budget.tokens = tokens
            budget.refilled = now
            return decision.allowed
        }
    }

    /// Typing notices go out at most once every 2 seconds per conversation.
    func admitTyping(in thread: UUID, now: ContinuousClock.Instant = .now) -> Bool {
        commands.withLockedValue { budget in
            if let last = budget.lastTyping[thread], now - last < .seconds(2) { return false }
            budget.lastTyping[thread] = now
            return true
        }
    }
}
