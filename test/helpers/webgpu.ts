// The WebGPU gate of the GPU-path tests. WebGPU runs on a real GPU or on Mesa's software Vulkan (lavapipe,
// installed by .ci/setup-machine.sh). Under CI (CI=true) or with KVOPT_REQUIRE_WEBGPU=1 an unavailable WebGPU FAILS
// the test; elsewhere the test is skipped with the reason and how to install it. The probe runs in a child process
// (a broken driver may crash), once per test file.
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { repoRoot } from './shared-data.ts';

let status: { ok: boolean; reason: string } | null = null;

export function webgpuStatus(): { ok: boolean; reason: string } {
  if (status) return status;
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/runtime/webgpu-probe.ts'], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  const out = (r.stdout ?? '').trim();
  status =
    r.status === 0 && out === 'ok'
      ? { ok: true, reason: '' }
      : { ok: false, reason: out || `probe exited ${r.status ?? r.signal}: ${(r.stderr ?? '').trim().split('\n').at(-1)}` };
  return status;
}

export const webgpuRequired = (): boolean => process.env.KVOPT_REQUIRE_WEBGPU === '1' || process.env.CI === 'true';

/** true when WebGPU works; otherwise fails the test (CI) or skips it with the reason, returning false. */
export function needWebgpu(t: TestContext): boolean {
  const s = webgpuStatus();
  if (s.ok) return true;
  const msg = `WebGPU unavailable (${s.reason}); install Vulkan + Mesa lavapipe with: sudo bash .ci/setup-machine.sh`;
  if (webgpuRequired()) assert.fail(`${msg} [required: KVOPT_REQUIRE_WEBGPU=1 or CI=true]`);
  t.skip(msg);
  return false;
}
