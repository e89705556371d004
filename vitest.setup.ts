import { addEqualityTesters } from "@effect/vitest"

// Tests must run on the Node 24 installed by the `node` devDependency. `npm test` puts
// node_modules/.bin first on PATH; calling ./node_modules/.bin/vitest from a shell does not.
const major = Number(process.versions.node.split(".")[0])
if (major < 24) {
  throw new Error(`Running on Node ${process.version}; use \`npm test\` so node_modules/.bin/node (v24) is used`)
}

// structural equality for Effect data types (Option, Exit, Data.Class, ...) in expect().toEqual
addEqualityTesters()
