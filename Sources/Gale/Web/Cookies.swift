#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Cookie parsing and Set-Cookie formatting (RFC 6265), as Tornado's cookie helpers.
public enum Cookies {
    /// "a=1; b=2" → ["a": "1", "b": "2"]; quoted values are unquoted; the first of duplicate
    /// names wins (browsers send the most specific first).
    public static func parse(_ header: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in header.split(separator: ";") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = kv[0].trimmingSpaces()
            guard !name.isEmpty else { continue }
            var value = kv.count > 1 ? kv[1].trimmingSpaces() : ""
            if value.count >= 2, value.first == "\"", value.last == "\"" { value = String(value.dropFirst().dropLast()) }
            if out[name] == nil { out[name] = value }
        }
        return out
    }

    /// SameSite attribute values.
    public enum SameSite: String, Sendable {
        case strict = "Strict", lax = "Lax", none = "None"
    }

    /// A Set-Cookie value. Throws `HTTPError(500)` for names or values a cookie cannot hold
    /// (they would corrupt the header).
    static func format(name: String, value: String, domain: String?, path: String?, expires: Date?,
                       maxAge: Int?, secure: Bool, httpOnly: Bool, sameSite: SameSite?) throws -> String {
        func invalid(_ s: String, allowSpace: Bool) -> Bool {
            s.utf8.contains { c in c < 0x21 && !(allowSpace && c == 0x20) || c == 0x7f || c == UInt8(ascii: ";") || c == UInt8(ascii: ",") }
        }
        if name.isEmpty || invalid(name, allowSpace: false) || name.contains("=") || invalid(value, allowSpace: false) {
            throw HTTPError(500, logMessage: "invalid cookie \(name)=\(value)")
        }
        var s = "\(name)=\(value)"
        if let domain { s += "; Domain=\(domain)" }
        if let expires { s += "; Expires=\(httpDate(expires))" }
        if let maxAge { s += "; Max-Age=\(maxAge)" }
        if let path { s += "; Path=\(path)" }
        if secure { s += "; Secure" }
        if httpOnly { s += "; HttpOnly" }
        if let sameSite { s += "; SameSite=\(sameSite.rawValue)" }
        return s
    }

    /// RFC 1123 date ("Sun, 06 Nov 1994 08:49:37 GMT").
    static func httpDate(_ date: Date) -> String {
        let t = Int(date.timeIntervalSince1970.rounded(.down))
        let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"] // 1970-01-01 was a Thursday
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        var dayCount = t >= 0 ? t / 86400 : (t - 86399) / 86400
        let secs = t - dayCount * 86400
        let weekday = ((dayCount % 7) + 7) % 7
        // Civil from days (Howard Hinnant's algorithm).
        dayCount += 719_468
        let era = (dayCount >= 0 ? dayCount : dayCount - 146_096) / 146_097
        let doe = dayCount - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        var y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        if m <= 2 { y += 1 }
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[weekday]), \(two(d)) \(months[m - 1]) \(y) \(two(secs / 3600)):\(two(secs % 3600 / 60)):\(two(secs % 60)) GMT"
    }
}
