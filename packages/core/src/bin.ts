#!/usr/bin/env node
// The `binlog` executable (package.json "bin"): runs the command line of Cli.ts. Needs Node 24 (type stripping):
// run it as `npx binlog ...` or `node_modules/.bin/node packages/core/src/bin.ts ...`.
import { main } from "./Cli.ts"

main()
