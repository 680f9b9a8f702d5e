/// Text written byte by byte straight into a new string's buffer (`String(unsafeUninitializedCapacity:)`):
/// for values built on every request or response (a policy with its nonce, a rate-limit field, an address),
/// where joining or interpolating would make a string of each piece first. The caller sizes the buffer.
struct TextWriter {
    private let buffer: UnsafeMutableBufferPointer<UInt8>
    /// How many bytes have been written, from the start.
    private(set) var count = 0

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        self.buffer = buffer
    }

    mutating func append(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            buffer[count] = byte
            count += 1
        }
    }

    /// `number`, which is not negative, in decimal.
    mutating func append(decimal number: some BinaryInteger) {
        precondition(number >= 0, "negative number written as text")
        let start = count
        var rest = number
        repeat {
            buffer[count] = UInt8(ascii: "0") + UInt8(rest % 10)
            count += 1
            rest /= 10
        } while rest > 0
        buffer[start..<count].reverse()
    }

    /// The next `length` bytes, for the caller to fill; they count as written.
    mutating func next(_ length: Int) -> UnsafeMutableBufferPointer<UInt8> {
        defer { count += length }
        return UnsafeMutableBufferPointer(rebasing: buffer[count..<(count + length)])
    }
}
