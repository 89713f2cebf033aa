import { describe, expect, it } from "vitest"
import { statusPhases } from "./statusCalls.js"

// node exec 29.835 → first spawn 30.022 (187 ms); calls 18 + 13 + 85 + 107 ms (222), the first to the last exit 30.271
// (249 ms); the Caddy connect 30.322 (51 ms later); exit 30.356 (34 ms).
// A real `strace -f -tt -e trace=execve,connect` of `tamanu status --json` on the sandbox (4 instances), trimmed.
const trace = `4006  23:06:29.831610 execve("/usr/bin/nsenter", ["nsenter", "-t", "3232", "-m", "--", "/usr/bin/node", "bin/tamanu.js", "status", "--json"], 0x7ffcf28eb090 /* 44 vars */) = 0
4006  23:06:29.835289 execve("/usr/bin/node", ["/usr/bin/node", "bin/tamanu.js", "status", "--json"], 0x7ffcc3cbbf88 /* 44 vars */) = 0
4017  23:06:30.021960 execve("/usr/bin/systemctl", ["systemctl", "--user", "list-units", "--all", "--type=service", "--plain", "--no-legend", "--no-pager", "--", "tamanu-*.service"], 0x37164ed0 /* 48 vars */) = 0
4017  23:06:30.035855 connect(3, {sa_family=AF_UNIX, sun_path="/tmp/tamanu-sd-x/run/systemd/private"}, 44) = 0
4017  23:06:30.039863 +++ exited with 0 +++
4018  23:06:30.051063 execve("/usr/bin/systemctl", ["systemctl", "--user", "show", "--no-pager", "-p", "Id,UnitFileState", "--", "tamanu-facility.service"], 0x37164ed0 /* 48 vars */) = 0
4018  23:06:30.058794 connect(3, {sa_family=AF_UNIX, sun_path="/tmp/tamanu-sd-x/run/systemd/private"}, 44) = 0
4018  23:06:30.063828 +++ exited with 0 +++
4019  23:06:30.069479 execve("/usr/bin/podman", ["podman", "ps", "--filter", "label=PODMAN_SYSTEMD_UNIT", "--format", "json"], 0x3708bd00 /* 44 vars */) = 0
4026  23:06:30.113060 execve("/usr/bin/conmon", ["/usr/bin/conmon", "--version"], 0xc000488000 /* 44 vars */) = 0
4026  23:06:30.119012 +++ exited with 0 +++
4027  23:06:30.151828 +++ exited with 0 +++
4025  23:06:30.151833 +++ exited with 0 +++
4024  23:06:30.151837 +++ exited with 0 +++
4023  23:06:30.151840 +++ exited with 0 +++
4022  23:06:30.151843 +++ exited with 0 +++
4021  23:06:30.151846 +++ exited with 0 +++
4020  23:06:30.154055 +++ exited with 0 +++
4019  23:06:30.154063 +++ exited with 0 +++
4028  23:06:30.164213 execve("/usr/bin/podman", ["podman", "inspect", "92ed7b36"], 0x3708bd00 /* 44 vars */) = 0
4037  23:06:30.205904 execve("/usr/bin/conmon", ["/usr/bin/conmon", "--version"], 0xc000556000 /* 44 vars */) = 0
4037  23:06:30.213082 +++ exited with 0 +++
4036  23:06:30.265640 +++ exited with 0 +++
4033  23:06:30.265645 +++ exited with 0 +++
4029  23:06:30.265648 +++ exited with 0 +++
4035  23:06:30.265884 +++ exited with 0 +++
4034  23:06:30.265890 +++ exited with 0 +++
4032  23:06:30.265894 +++ exited with 0 +++
4031  23:06:30.265897 +++ exited with 0 +++
4030  23:06:30.265903 +++ exited with 0 +++
4028  23:06:30.270709 +++ exited with 0 +++
4006  23:06:30.321982 connect(18, {sa_family=AF_INET, sin_port=htons(35937), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EINPROGRESS (Operation now in progress)
4006  23:06:30.335589 connect(19, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.89.119.1")}, 16) = 0
4006  23:06:30.339432 connect(18, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.89.119.1")}, 16) = 0
4015  23:06:30.348994 +++ exited with 0 +++
4013  23:06:30.349283 +++ exited with 0 +++
4016  23:06:30.349330 +++ exited with 0 +++
4014  23:06:30.349400 +++ exited with 0 +++
4009  23:06:30.349715 +++ exited with 0 +++
4010  23:06:30.349779 +++ exited with 0 +++
4011  23:06:30.349854 +++ exited with 0 +++
4008  23:06:30.349927 +++ exited with 0 +++
4007  23:06:30.350146 +++ exited with 0 +++
4012  23:06:30.356386 +++ exited with 0 +++
4006  23:06:30.356407 +++ exited with 0 +++
`

describe("statusPhases", () => {
  it("cuts a traced status run at its spawns, the calls' exits and its first connect after them", () => {
    expect(statusPhases(trace)).toEqual({
      startUpMs: 187,
      callsMs: 249,
      callsOwnMs: 222,
      beforeCaddyMs: 51,
      caddyAndExitMs: 34,
    })
  })

  it("says nothing of a trace without tamanu's node or without calls", () => {
    expect(statusPhases("")).toBeNull()
    expect(
      statusPhases(
        trace
          .split("\n")
          .filter((l) => !l.includes("podman") && !l.includes("systemctl"))
          .join("\n"),
      ),
    ).toBeNull()
  })
})
