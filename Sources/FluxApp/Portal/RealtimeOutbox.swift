import NIOCore

/// What the hub hands to one event loop's sockets, in the order it handed it: fan-outs, and each connection's
/// own work (its catch-up, its answers), which must not overtake a fan-out handed before it nor be overtaken.
///
/// A fan-out is written a slice of sockets at a time, and between slices the loop is left free to read and
/// answer requests: NIO runs every task queued before it looks at its sockets again, so a burst of fan-outs
/// handed as plain tasks would hold every request on the loop (a POST among them) until all were written.
final class RealtimeOutbox: Sendable {
    enum Item: Sendable {
        /// `written` runs once for each socket, when that socket is done with the frame.
        case fanOut(frame: ByteBuffer, id: Int64?, to: [RealtimeConnection], written: (@Sendable () -> Void)?)
        case work(@Sendable () -> Void)
    }

    private struct State {
        var items = CircularBuffer<Item>()
        /// How far into the first item's sockets the writing got.
        var next = 0
        var draining = false
    }

    /// Sockets written before the loop is left free for a moment.
    static let slice = 128

    let eventLoop: any EventLoop
    private let state: NIOLoopBoundBox<State>

    /// Made on `eventLoop`.
    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        state = NIOLoopBoundBox(State(), eventLoop: eventLoop)
    }

    /// Hands `item` to the loop after everything handed before it.
    func hand(_ item: Item) {
        eventLoop.execute { [self] in
            state.value.items.append(item)
            if !state.value.draining { drain() }
        }
    }

    private func drain() {
        state.value.draining = true
        var budget = Self.slice
        while budget > 0, let item = state.value.items.first {
            switch item {
            case .work(let work):
                state.value.items.removeFirst()
                work()
                budget -= 1
            case let .fanOut(frame, id, targets, written):
                let start = state.value.next
                let end = min(targets.count, start + budget)
                for index in start..<end { targets[index].receive(frame, id: id, written: written) }
                budget -= end - start
                if end == targets.count {
                    state.value.items.removeFirst()
                    state.value.next = 0
                } else {
                    state.value.next = end
                }
            }
        }
        guard !state.value.items.isEmpty else {
            state.value.draining = false
            return
        }
        // A deadline just ahead, not an immediate task: NIO runs immediate tasks until none is left, and checks
        // its sockets only when the next task is due later.
        eventLoop.scheduleTask(in: .microseconds(20)) { self.drain() }
    }
}
