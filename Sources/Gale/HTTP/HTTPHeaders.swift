/// HTTP header fields: an ordered, case-insensitive multi-map, like Tornado's `HTTPHeaders`.
///
/// ```swift
/// headers["content-type"]            // the first value, any name case
/// headers.values(for: "Set-Cookie")  // every value
/// headers.add("Vary", "Accept")
/// ```
public struct HTTPHeaders: Sendable, Sequence, CustomStringConvertible, ExpressibleByDictionaryLiteral {
    /// Fields in the order they were added (names as given).
    public private(set) var fields: [(name: String, value: String)]

    public init() { fields = [] }

    public init(_ fields: [(String, String)]) {
        self.fields = fields.map { (name: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    /// The first value for `name` (case-insensitive), or nil. Setting replaces every value.
    public subscript(name: String) -> String? {
        get {
            for f in fields where equalsIgnoringCase(f.name, name) { return f.value }
            return nil
        }
        set {
            remove(name)
            if let newValue { fields.append((name: name, value: newValue)) }
        }
    }

    /// Every value for `name`, in order.
    public func values(for name: String) -> [String] {
        fields.compactMap { equalsIgnoringCase($0.name, name) ? $0.value : nil }
    }

    /// Add a value, keeping the ones already there.
    public mutating func add(_ name: String, _ value: String) {
        fields.append((name: name, value: value))
    }

    /// Remove every value for `name`.
    public mutating func remove(_ name: String) {
        fields.removeAll { equalsIgnoringCase($0.name, name) }
    }

    public func contains(_ name: String) -> Bool { self[name] != nil }

    public var count: Int { fields.count }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    public var description: String { fields.map { "\($0.name): \($0.value)" }.joined(separator: "\r\n") }
}

/// ASCII case-insensitive comparison (header names and tokens are ASCII).
@inline(__always)
func equalsIgnoringCase(_ a: String, _ b: String) -> Bool {
    var a = a, b = b
    return a.withUTF8 { x in
        b.withUTF8 { y in
            x.count == y.count && zip(x, y).allSatisfy { lowerASCII($0) == lowerASCII($1) }
        }
    }
}

@inline(__always)
func lowerASCII(_ c: UInt8) -> UInt8 { c >= 65 && c <= 90 ? c | 0x20 : c }

/// ASCII case-insensitive comparison of raw bytes with a lowercase literal.
@inline(__always)
func bytesEqualLowercase(_ p: UnsafeRawBufferPointer, _ lower: StaticString) -> Bool {
    guard p.count == lower.utf8CodeUnitCount else { return false }
    let l = UnsafeRawBufferPointer(start: lower.utf8Start, count: lower.utf8CodeUnitCount)
    for i in 0..<p.count where lowerASCII(p[i]) != l[i] { return false }
    return true
}
