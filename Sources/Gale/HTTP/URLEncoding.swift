/// Percent-decoding and form parsing (application/x-www-form-urlencoded), as Tornado's
/// `parse_qs_bytes` and `url_unescape` do.
public enum URLEncoding {
    /// Decode %XX escapes (and '+' as space when `plusIsSpace`); invalid escapes are kept as
    /// they are; the result is UTF-8 with invalid sequences replaced.
    public static func decode(_ text: some StringProtocol, plusIsSpace: Bool = true) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var it = Array(text.utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "%"), it.count >= 2, let h = hex(it[it.startIndex]), let l = hex(it[it.startIndex + 1]) {
                bytes.append(h << 4 | l)
                it = it.dropFirst(2)
            } else if c == UInt8(ascii: "+") && plusIsSpace {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(c)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Percent-encode everything but unreserved characters (RFC 3986).
    public static func encode(_ text: String) -> String {
        var out = ""
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(b))
            default:
                let digits = Array("0123456789ABCDEF".utf8)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(UnicodeScalar(digits[Int(b >> 4)]))
                out.unicodeScalars.append(UnicodeScalar(digits[Int(b & 15)]))
            }
        }
        return out
    }

    /// "a=1&b=2&a=3" → ["a": ["1", "3"], "b": ["2"]]. Empty values are kept (Tornado keeps
    /// blank values too), pairs without '=' get an empty value.
    public static func parseQuery(_ query: some StringProtocol) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for pair in query.split(whereSeparator: { $0 == "&" || $0 == ";" }) where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(parts[0])
            let value = parts.count > 1 ? decode(parts[1]) : ""
            out[name, default: []].append(value)
        }
        return out
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
