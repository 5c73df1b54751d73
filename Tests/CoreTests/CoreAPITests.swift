import CGale
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// libcore's C API used straight from Swift: what a binding author sees.
@Suite("libcore C API")
struct CoreAPITests {
    @Test func errorsHaveMessages() {
        #expect(String(cString: gale_strerror(-ECONNREFUSED)) == "Connection refused")
        let eai = gale_error_from_eai(EAI_NONAME)
        #expect(gale_error_eai(eai) == EAI_NONAME)
        #expect(String(cString: gale_strerror(eai)) == String(cString: gai_strerror(EAI_NONAME)))
    }

    @Test func addressesParseAndFormat() {
        var a = gale_addr()
        #expect(gale_addr_from_ip("::1", 8080, &a) == 0)
        #expect(gale_addr_family(&a) == AF_INET6)
        var buf = [CChar](repeating: 0, count: Int(GALE_ADDR_STRLEN))
        #expect(gale_addr_format(&a, &buf, buf.count) > 0)
        #expect(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) == "[::1]:8080")
        #expect(gale_addr_from_ip("999.1.1.1", 1, &a) == -EINVAL)
    }

    @Test func timersRunOnAManuallyDrivenLoop() {
        var loop: OpaquePointer?
        #expect(gale_loop_new(&loop) == 0)
        defer { gale_loop_free(loop) }
        final class Counter { var fired = 0; var freed = false }
        let counter = Counter()
        var timer: OpaquePointer?
        let ud = Unmanaged.passRetained(counter).toOpaque()
        #expect(gale_timer_new(loop!, { _, ud in
            Unmanaged<Counter>.fromOpaque(ud!).takeUnretainedValue().fired += 1
        }, ud, { ud in
            let c = Unmanaged<Counter>.fromOpaque(ud!).takeRetainedValue()
            c.freed = true
        }, &timer) == 0)
        #expect(gale_timer_start(timer!, 1_000_000, 0) == 0)
        let deadline = gale_now_ns() + 2_000_000_000
        while counter.fired == 0 && gale_now_ns() < deadline { _ = gale_loop_run_once(loop!, 1) }
        #expect(counter.fired == 1)
        #expect(gale_timer_is_active(timer!) == 0)
        gale_timer_free(timer)
        #expect(counter.freed) // the free callback ran exactly when promised
    }

    @Test func listenerOnPortZeroReportsItsPort() {
        var loop: OpaquePointer?
        #expect(gale_loop_new(&loop) == 0)
        defer { gale_loop_free(loop) }
        var l: OpaquePointer?
        let r = gale_listener_open(loop!, "127.0.0.1", 0, -1, 0, { _, fd, _, _ in close(fd) }, nil, nil, &l)
        #expect(r == 0)
        #expect(gale_listener_port(l!) > 0)
        #expect(gale_listener_count(l!) == 1)
        var busy: OpaquePointer?
        #expect(gale_listener_open(loop!, "127.0.0.1", gale_listener_port(l!), -1, 0, { _, fd, _, _ in close(fd) },
                                   nil, nil, &busy) == -EADDRINUSE)
        gale_listener_close(l)
    }
}
