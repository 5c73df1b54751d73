import CGale

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4, IPv6 or Unix domain socket address: a value, like Python's `(host, port)`.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// Address families Gale speaks.
    public enum Family: Sendable, Hashable {
        case inet, inet6, unix, unspecified
    }

    var raw: gale_addr

    init(raw: gale_addr) { self.raw = raw }

    /// A numeric IPv4 or IPv6 address (`"127.0.0.1"`, `"::1"`, `"fe80::1%eth0"`) and a port.
    public init(ip: String, port: Int) throws(GaleError) {
        var a = gale_addr()
        let r = ip.withCString { gale_addr_from_ip($0, Int32(clamping: port), &a) }
        if r < 0 {
            throw GaleError(kind: .invalidArgument, operation: "address",
                            message: "\"\(ip)\" port \(port) is not a numeric IP address and port", errno: EINVAL)
        }
        raw = a
    }

    /// A Unix domain socket path.
    public init(unixPath: String) throws(GaleError) {
        var a = gale_addr()
        try check(unixPath.withCString { gale_addr_from_unix($0, &a) }, "address \(unixPath)")
        raw = a
    }

    public var family: Family {
        switch gale_addr_family(withUnsafePointer(to: raw) { $0 }) {
        case AF_INET: return .inet
        case AF_INET6: return .inet6
        case AF_UNIX: return .unix
        default: return .unspecified
        }
    }

    /// The host part ("127.0.0.1", "::1") or the Unix path.
    public var host: String {
        var r = raw
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(GALE_ADDR_STRLEN)) { buf in
            gale_addr_host(&r, buf.baseAddress!, buf.count) < 0 ? "" : String(cString: buf.baseAddress!)
        }
    }

    /// The port, or nil for a Unix address.
    public var port: Int? {
        var r = raw
        let p = gale_addr_port(&r)
        return p < 0 ? nil : Int(p)
    }

    /// "127.0.0.1:80", "[::1]:80", or the Unix path.
    public var description: String {
        var r = raw
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(GALE_ADDR_STRLEN)) { buf in
            gale_addr_format(&r, buf.baseAddress!, buf.count) < 0 ? "?" : String(cString: buf.baseAddress!)
        }
    }

    public static func == (a: SocketAddress, b: SocketAddress) -> Bool {
        var x = a.raw, y = b.raw
        return gale_addr_equal(&x, &y) != 0
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(description)
    }
}
