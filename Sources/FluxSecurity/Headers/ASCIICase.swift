extension Sequence<UInt8> {
    /// Whether these bytes spell `word`, which is lower-case ASCII letters only, in any mix of cases. Each
    /// such letter has exactly two byte spellings, the capital and the small, and `| 0x20` maps both to the
    /// small one and no other byte to it; so no lower-casing copy is made on hot header paths.
    func spells(ignoringCase word: StaticString) -> Bool {
        let letters = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        assert(letters.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) }, "\(word) is not lower-case letters")
        return elementsEqual(letters) { $0 | 0x20 == $1 }
    }
}
