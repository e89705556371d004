// Root test config. Vitest >= 4 does not auto-load workspace files, so the scripts pass this file
// explicitly: vitest run --config vitest.workspace.ts [--project core]
import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const repoRoot = fileURLToPath(new URL(".", import.meta.url))

export default defineConfig({
  // inline project roots resolve against this root; pinned so `npm test -w <pkg>` works
  root: repoRoot,
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: [fileURLToPath(new URL("./vitest.setup.ts", import.meta.url))],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, root: "packages/core", test: { name: "core" } },
      { extends: true, root: "packages/projections", test: { name: "projections" } },
      { extends: true, root: "packages/examples", test: { name: "examples" } }
    ]
  }
})
