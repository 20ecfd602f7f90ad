import { spawn } from 'node:child_process';
import type net from 'node:net';
import { AgentError } from '../../core/errors.js';

/**
 * Node's net module has no setsockopt: `socket.setTTL` exists only on dgram sockets, and no public API sets IP_TTL
 * or IPV6_UNICAST_HOPS on a TCP socket. So the option is set on the *listening* socket by a short perl process that
 * inherits its file descriptor (perl-base is Essential on Debian; `setsockopt` is a perl builtin and the constants
 * come from its core Socket module, so the numbers are the platform's). A descriptor shares the kernel socket, so
 * the option lands on our listener. Linux copies the listener's IP_TTL/hop limit into every socket accept(2)
 * returns (the child socket is cloned from it), which gives each accepted connection the hop limit; the test reads
 * it back from an accepted connection's descriptor. The value is read back here too, so a silent failure is
 * impossible: startup fails instead. Alternative without perl: systemd socket activation with IPTTL=.
 *
 * The listener's descriptor comes from the handle's `fd` property (libuv stream handles expose it on Unix; it is not
 * a documented Node API, so its absence is reported, not ignored).
 */
export async function setListenerHopLimit(server: net.Server, family: 4 | 6, hopLimit: number): Promise<number> {
  if (!Number.isInteger(hopLimit) || hopLimit < 1 || hopLimit > 255) {
    throw new AgentError({
      code: 'VEND_HOP_LIMIT',
      component: 'vend',
      message: `hop limit ${hopLimit} is outside 1..255`,
      hint: 'set vend.serve.hopLimit to 1 (EC2 parity) .. 255',
    });
  }
  const fd = (server as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new AgentError({
      code: 'VEND_HOP_LIMIT',
      component: 'vend',
      message: 'cannot reach the listening socket descriptor to set its hop limit',
      hint: 'this Node runtime hides it; use a unix socket (vend.serve.socket) instead',
    });
  }
  const [level, option] = family === 6 ? ['IPPROTO_IPV6', 'IPV6_UNICAST_HOPS'] : ['IPPROTO_IP', 'IP_TTL'];
  const script = `use strict; use Socket qw(${level} ${option});
open(my $s, "+<&=", 3) or die "fd 3: $!\\n";
setsockopt($s, ${level}, ${option}, pack("i", $ARGV[0])) or die "setsockopt ${option}: $!\\n";
my $v = getsockopt($s, ${level}, ${option}) or die "getsockopt ${option}: $!\\n";
print unpack("i", $v);`;
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('perl', ['-e', script, String(hopLimit)], { stdio: ['ignore', 'pipe', 'pipe', fd] });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => resolve({ code: null, stdout: '', stderr: e.message }));
    child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
  });
  const got = Number(stdout.trim());
  if (code !== 0 || got !== hopLimit) {
    throw new AgentError({
      code: 'VEND_HOP_LIMIT',
      component: 'vend',
      message: `cannot set ${option}=${hopLimit} on the listening socket: ${stderr.trim() || `read back ${stdout.trim() || 'nothing'}`}`,
      hint: 'Node cannot set IP TTL itself and needs perl for it; install perl-base, omit vend.serve.hopLimit, or use a unix socket',
    });
  }
  return got;
}
