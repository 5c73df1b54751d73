#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Sockets handed over at start by systemd socket activation, or by any supervisor that
/// follows the same protocol (LISTEN_PID, LISTEN_FDS, descriptors from 3 on): the way to keep
/// a listening socket open across restarts, so that no connection waiting in its backlog is
/// lost.
///
/// ```swift
/// if let fd = SocketActivation.listeningSockets().first {
///     try await app.listen(socket: fd)
/// } else {
///     try await app.listen(5001)
/// }
/// ```
public enum SocketActivation {
    /// The first passed descriptor, by the protocol.
    public static let firstDescriptor: Int32 = 3

    /// The passed sockets, if they were meant for this process (LISTEN_PID is ours). The
    /// variables are removed, as sd_listen_fds(1) does, so children do not take them too;
    /// descriptors are marked close-on-exec.
    public static func listeningSockets() -> [Int32] {
        guard let pidText = getenv("LISTEN_PID").map({ String(cString: $0) }),
              let countText = getenv("LISTEN_FDS").map({ String(cString: $0) }),
              let pid = Int32(pidText), pid == getpid(), let count = Int32(countText), count > 0
        else { return [] }
        unsetenv("LISTEN_PID")
        unsetenv("LISTEN_FDS")
        unsetenv("LISTEN_FDNAMES")
        return (0..<count).map { i in
            let fd = firstDescriptor + i
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            return fd
        }
    }
}
