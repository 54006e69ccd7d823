/** Writes docs/openapi.json from the document the server serves (`npm run docs:openapi`). */
import { writeFileSync } from 'node:fs'
import { openApiDocument } from '../src/http/openapi.js'

writeFileSync(new URL('../docs/openapi.json', import.meta.url), JSON.stringify(openApiDocument, null, 2) + '\n')
