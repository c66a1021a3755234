// The MicroPython WebAssembly port (32-bit: 31-bit small ints, like the ESP32) as a command line
// that behaves like the unix port's:  node micropython.mjs [-X heapsize=8M] SCRIPT.py [ARGS...]
//
// The port has no access to the host's files, so the directories on MICROPYPATH, the script and
// any argument naming an existing file are copied into its in-memory filesystem at the same
// absolute paths, and it starts in the same working directory. stdin is the script's sys.stdin;
// stdout and stderr pass through. The exit status is the script's (1 on an uncaught exception).
import fs from "node:fs";
import path from "node:path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const SKIP_DIR = /^(\.|__pycache__$|node_modules$|.*\.egg-info$)/;
const COPY_FILE = /\.(py|json)$/;

function parseArgs(argv) {
  let heap = 8 * 1024 * 1024;
  let i = 0;
  while (argv[i] === "-X") {
    const match = /^heapsize=(\d+)([kKmM]?)$/.exec(argv[i + 1] || "");
    if (!match) throw new Error("usage: micropython.mjs [-X heapsize=N[K|M]] SCRIPT.py [ARGS...]");
    heap = Number(match[1]) * { "": 1, k: 1024, m: 1024 * 1024 }[match[2].toLowerCase()];
    i += 2;
  }
  if (i >= argv.length) throw new Error("usage: micropython.mjs [-X heapsize=N[K|M]] SCRIPT.py [ARGS...]");
  return { heap, script: argv[i], args: argv.slice(i + 1) };
}

function copyFile(FS, file) {
  FS.mkdirTree(path.dirname(file));
  FS.writeFile(file, fs.readFileSync(file));
}

function copyTree(FS, dir) {
  for (const name of fs.readdirSync(dir)) {
    const full = path.join(dir, name);
    const stat = fs.statSync(full); // follows links: the firmware's package folder is one
    if (stat.isDirectory() && !SKIP_DIR.test(name)) copyTree(FS, full);
    else if (stat.isFile() && COPY_FILE.test(name)) copyFile(FS, full);
  }
}

// Runs the script as __main__; heap_unlock() on the way out, because an exception that leaves
// the port with its heap still locked cannot be reported (the port hangs formatting it).
const WRAPPER = `
import sys, micropython
def _run(argv):
    sys.argv[:] = argv
    with open(argv[0]) as f:
        code = f.read()
    try:
        exec(compile(code, argv[0], "exec"), {"__name__": "__main__", "__file__": argv[0]})
    finally:
        micropython.heap_unlock()
_status = 0
try:
    _run(_argv)
except SystemExit as e:
    _status = e.args[0] if e.args and type(e.args[0]) is int else (1 if e.args and e.args[0] else 0)
except BaseException as e:
    sys.print_exception(e)
    _status = 1
`;

function stream(target) {
  // Pass output bytes on in chunks: one write per byte would dominate the run time.
  let chunk = [];
  const flush = () => {
    if (chunk.length) fs.writeSync(target, Uint8Array.from(chunk));
    chunk = [];
  };
  return { write: (byte) => { chunk.push(byte); if (chunk.length >= 65536) flush(); }, flush };
}

function readAllStdin() {
  // Synchronously, because the port asks for input one byte at a time from inside Python code.
  // A pipe may be non-blocking: wait a moment on EAGAIN instead of failing.
  const chunks = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    let n;
    try {
      n = fs.readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      if (e.code !== "EAGAIN") throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      continue;
    }
    if (n === 0) return Buffer.concat(chunks);
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
}

async function main() {
  const { heap, script, args } = parseArgs(process.argv.slice(2));
  let stdinBytes = null; // read on the script's first read, as the unix port would
  let inPos = 0;
  const out = stream(1);
  const err = stream(2);
  const mp = await loadMicroPython({
    heapsize: heap,
    linebuffer: false,
    stdin: () => {
      stdinBytes ??= readAllStdin();
      return inPos < stdinBytes.length ? stdinBytes[inPos++] : null;
    },
    stdout: (bytes) => bytes.forEach(out.write),
    stderr: (bytes) => bytes.forEach(err.write),
  });
  const FS = mp.FS;
  const searchPath = (process.env.MICROPYPATH || "").split(path.delimiter).filter(Boolean);
  for (const dir of searchPath) {
    if (path.isAbsolute(dir) && fs.existsSync(dir)) copyTree(FS, dir);
  }
  const argv = [script, ...args].map((arg) => {
    const full = path.resolve(arg);
    if (fs.existsSync(full) && fs.statSync(full).isFile()) copyFile(FS, full);
    return arg;
  });
  FS.mkdirTree(process.cwd());
  FS.chdir(process.cwd());
  // As the unix port: the script's directory first, then MICROPYPATH.
  const sysPath = [path.dirname(path.resolve(script)), ...searchPath];
  mp.runPython("import sys\nsys.path[:] = " + JSON.stringify(sysPath));
  mp.globals.set("_argv", JSON.stringify(argv));
  mp.runPython("import json\n_argv = json.loads(_argv)\n" + WRAPPER);
  out.flush();
  err.flush();
  process.exitCode = mp.globals.get("_status");
}

main().catch((e) => {
  process.stderr.write("micropython.mjs: " + (e && e.message ? e.message : e) + "\n");
  process.exitCode = 2;
});
