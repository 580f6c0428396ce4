// Validates docs/openapi.yaml: first against the OpenAPI 3.0 schema and its
// semantic rules (@apidevtools/swagger-parser, pinned in package.json),
// then against vst's own rules for the API of DESIGN.md §6:
//   - every operation has an operationId, a summary and a 2xx response;
//   - every 4xx/5xx response of /v1 is application/problem+json;
//   - every 429 and 503 response declares Retry-After;
//   - the error-code enums match server/common/vst_error.def exactly;
//   - every example validates against its schema.
// Usage: node check_openapi.js SPEC VST_ERROR_DEF. Prints one line per
// finding and "ok - ..." lines; exit 0 when valid, 1 otherwise.
'use strict';

const fs = require('fs');
const SwaggerParser = require('@apidevtools/swagger-parser');
const Ajv = require('ajv');

const [spec, errorDef] = process.argv.slice(2);
if (!spec || !errorDef) {
  console.error('usage: node check_openapi.js SPEC VST_ERROR_DEF');
  process.exit(2);
}

const problems = [];
const fail = (msg) => problems.push(msg);

// OpenAPI 3.0 schema objects -> JSON Schema (draft-07) for ajv: drops the
// OpenAPI-only keywords and turns `nullable` into a type union.
function toJsonSchema(s) {
  if (Array.isArray(s)) return s.map(toJsonSchema);
  if (s === null || typeof s !== 'object') return s;
  const out = {};
  for (const [k, v] of Object.entries(s)) {
    if (['example', 'externalDocs', 'xml', 'discriminator', 'readOnly', 'writeOnly',
         'deprecated', 'nullable'].includes(k) || k.startsWith('x-')) continue;
    if (k === 'properties') {
      out.properties = {};
      for (const [p, ps] of Object.entries(v)) out.properties[p] = toJsonSchema(ps);
    } else {
      out[k] = toJsonSchema(v);
    }
  }
  if (s.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  return out;
}

async function main() {
  let api;
  try {
    // validate() dereferences: work on a parsed copy for our own checks.
    await SwaggerParser.validate(spec);
    api = await SwaggerParser.dereference(spec);
  } catch (e) {
    console.error(`not ok - ${spec} is not a valid OpenAPI document: ${e.message}`);
    process.exit(1);
  }
  console.log(`ok - ${spec} is valid OpenAPI ${api.openapi} (swagger-parser)`);
  if (api.openapi !== '3.0.3') fail(`openapi is ${api.openapi}, expected 3.0.3`);

  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const checkExample = (where, schema, example) => {
    if (example === undefined || schema === undefined) return;
    const validate = ajv.compile(toJsonSchema(schema));
    if (!validate(example))
      fail(`${where}: example does not match its schema: ${ajv.errorsText(validate.errors)}`);
  };

  const methods = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];
  let operations = 0;
  for (const [path, item] of Object.entries(api.paths)) {
    for (const m of methods) {
      const op = item[m];
      if (!op) continue;
      operations++;
      const where = `${m.toUpperCase()} ${path}`;
      if (!op.operationId) fail(`${where}: no operationId`);
      if (!op.summary) fail(`${where}: no summary`);
      const codes = Object.keys(op.responses || {});
      if (!codes.some((c) => /^2\d\d$/.test(c))) fail(`${where}: no 2xx response`);
      for (const [code, resp] of Object.entries(op.responses || {})) {
        const types = Object.keys(resp.content || {});
        if (/^[45]\d\d$/.test(code) && path.startsWith('/v1/') &&
            !(types.length === 1 && types[0] === 'application/problem+json'))
          fail(`${where} ${code}: must be application/problem+json only, is [${types}]`);
        if ((code === '429' || code === '503') &&
            !Object.keys(resp.headers || {}).includes('Retry-After'))
          fail(`${where} ${code}: no Retry-After header`);
        for (const [t, media] of Object.entries(resp.content || {}))
          checkExample(`${where} ${code} ${t}`, media.schema, media.example);
      }
    }
  }
  if (operations === 0) fail('no operations');

  for (const [name, schema] of Object.entries(api.components.schemas || {})) {
    if (schema.example !== undefined) checkExample(`schema ${name}`, schema, schema.example);
    for (const [p, ps] of Object.entries(schema.properties || {}))
      if (ps.example !== undefined) checkExample(`schema ${name}.${p}`, ps, ps.example);
  }

  // The error codes: every enum value is in vst_error.def, and every code the
  // API can send (status >= 400, not a start-up error of profiles) is listed.
  const def = fs.readFileSync(errorDef, 'utf8');
  const defCodes = new Map();
  for (const m of def.matchAll(/^VST_ERR\(\s*\w+\s*,\s*"([a-z0-9_]+)"\s*,\s*(\d+)/gm))
    defCodes.set(m[1], Number(m[2]));
  const record = new Set(api.components.schemas.RecordErrorCode.enum);
  const http = new Set(api.components.schemas.ProblemCode.enum);
  for (const c of [...record, ...http])
    if (!defCodes.has(c)) fail(`error code ${c} is not in ${errorDef}`);
  for (const [c, status] of defCodes) {
    if (status < 400 || c.startsWith('profile_')) continue;
    const isRecord = status === 422 && c !== 'invalid_records';
    if (isRecord && !record.has(c)) fail(`record error code ${c} missing from RecordErrorCode`);
    if (!isRecord && !http.has(c)) fail(`error code ${c} (${status}) missing from ProblemCode`);
  }

  for (const p of problems) console.error(`not ok - ${p}`);
  if (problems.length) process.exit(1);
  console.log(`ok - ${operations} operations, ${defCodes.size} error codes in step with ` +
              'vst_error.def, examples match their schemas');
}

main().catch((e) => {
  console.error(`not ok - ${e.stack || e}`);
  process.exit(1);
});
