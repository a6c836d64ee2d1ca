// Describes @tldraw/tlschema's record validators in the validator grammar of
// core/validator.hpp, by walking the real validator objects.
//
// Most of @tldraw/validate is introspectable (ObjectValidator.config,
// UnionValidator.key/config, DictValidator, ArrayOfValidator.itemValidator)
// and primitives are exported singletons we recognise by identity. What is
// not is the closures behind literal/setEnum/optional/nullable/model/refine/
// check: installHooks() therefore wraps those constructors *before*
// @tldraw/tlschema is loaded, tagging each validator they make with what it
// was made from. A refine/check we cannot name fails generation and prints
// its source, to be hand-ported in core/validator.cpp and listed in CUSTOM.

import { join } from 'node:path'

const tags = new WeakMap()
let V // the patched @tldraw/validate lib module

// Hand-ported in core/validator.cpp (custom_checks()), keyed by the
// tlschema export that names them.
const CUSTOM = { parentIdValidator: 'parent_id' }

export function installHooks(require, pkgDir) {
	const lib = join(pkgDir, 'node_modules/@tldraw/validate/dist-cjs/lib/validation.js')
	const real = require(lib)
	const patched = {}
	for (const k of Object.keys(real)) patched[k] = real[k]
	Object.defineProperty(patched, '__esModule', { value: true })
	const tag = (kind, make) =>
		function (...args) {
			const v = make.apply(this, args)
			tags.set(v, { kind, args, self: this })
			return v
		}
	for (const k of ['literal', 'setEnum', 'literalEnum', 'optional', 'nullable', 'model', 'or'])
		patched[k] = tag(k, real[k])
	const P = real.Validator.prototype
	for (const k of ['optional', 'nullable', 'refine', 'check']) P[k] = tag(k, P[k])
	const A = real.ArrayOfValidator.prototype
	for (const k of ['nonEmpty', 'lengthGreaterThan1']) A[k] = tag(k, A[k])
	const U = real.UnionValidator.prototype
	U.validateUnknownVariants = tag('validateUnknownVariants', U.validateUnknownVariants)
	require.cache[lib].exports = patched
	V = patched

	// idValidator(prefix) is a refine whose prefix only the closure knows.
	const idLib = join(pkgDir, 'node_modules/@tldraw/tlschema/dist-cjs/misc/id-validator.js')
	const realId = require(idLib)
	require.cache[idLib].exports = {
		__esModule: true,
		idValidator: (prefix) => {
			const v = realId.idValidator(prefix)
			tags.set(v, { kind: 'id', args: [prefix] })
			return v
		},
	}
}

function singletons() {
	const T = V
	return new Map([
		[T.string, 'string'],
		[T.number, 'number'],
		[T.positiveNumber, 'positive_number'],
		[T.nonZeroNumber, 'nonzero_number'],
		[T.nonZeroFiniteNumber, 'nonzero_finite_number'],
		[T.unitInterval, 'unit_interval'],
		[T.integer, 'integer'],
		[T.positiveInteger, 'positive_integer'],
		[T.nonZeroInteger, 'nonzero_integer'],
		[T.boolean, 'boolean'],
		[T.bigint, 'bigint'],
		[T.unknown, 'unknown'],
		[T.any, 'any'],
		[T.array, 'array'],
		[T.unknownObject, 'unknown_object'],
		[T.jsonValue, 'json'],
		[T.linkUrl, 'link_url'],
		[T.srcUrl, 'src_url'],
		[T.httpUrl, 'http_url'],
		[T.indexKey, 'index_key'],
	])
}

// Returns { records: { typeName: node }, defs: { name: node }, custom: [names] }.
export function describeSchema(tlschema, schema) {
	const prims = singletons()
	const names = new Map() // validator -> def name (named tlschema exports, style props)
	for (const [k, v] of Object.entries(tlschema)) {
		if (!v || typeof v !== 'object' || typeof v.validate !== 'function') continue
		if (prims.has(v) || names.has(v)) continue
		names.set(v, v instanceof tlschema.StyleProp ? `style:${v.id}` : k)
	}
	const customByValidator = new Map(
		Object.entries(CUSTOM).map(([exportName, name]) => [tlschema[exportName], name])
	)
	const defs = {}
	const custom = new Set()

	function describe(v, where) {
		if (prims.has(v)) return { kind: prims.get(v) }
		if (customByValidator.has(v)) {
			custom.add(customByValidator.get(v))
			return { kind: 'custom', name: customByValidator.get(v) }
		}
		const name = names.get(v)
		if (name && !(name in defs)) {
			defs[name] = null // reserve: recursion guard and order
			defs[name] = describeInner(v, `${where} (${name})`)
		}
		return name ? { kind: 'ref', name } : describeInner(v, where)
	}

	function describeInner(v, where) {
		if (v instanceof tlschema.EnumStyleProp) return { kind: 'enum', values: [...v.values] }
		if (v instanceof tlschema.StyleProp) return describe(v.type, where)
		if (v instanceof V.ObjectValidator) {
			const fields = {}
			for (const [k, f] of Object.entries(v.config)) fields[k] = describe(f, `${where}.${k}`)
			const node = { kind: 'object', fields }
			if (v.shouldAllowUnknownProperties) node.allow_unknown = true
			return node
		}
		if (v instanceof V.UnionValidator) {
			const t = tags.get(v)
			if (t && t.kind === 'validateUnknownVariants')
				fail(where, 'union with custom unknown-variant handling', t.args[0])
			const variants = {}
			for (const [k, f] of Object.entries(v.config)) variants[k] = describe(f, `${where}(${v.key} = ${k})`)
			const node = { kind: 'union', key: v.key, variants }
			if (v.useNumberKeys) node.number_keys = true
			return node
		}
		if (v instanceof V.DictValidator)
			return {
				kind: 'dict',
				key: describe(v.keyValidator, `${where}[key]`),
				value: describe(v.valueValidator, `${where}[value]`),
			}
		if (v instanceof V.ArrayOfValidator) return { kind: 'array_of', of: describe(v.itemValidator, `${where}[]`) }
		if (!(v instanceof V.Validator)) {
			// A bare { validate } object; tlschema uses these only to delegate to a
			// named export (frame's color -> DefaultColorStyle).
			const m = /^\(?(\w+)\)?\s*=>\s*(?:\w+\.)?(\w+)\.validate\(\1\)$/.exec(String(v.validate))
			if (m && tlschema[m[2]] && Object.keys(v).length === 1) return describe(tlschema[m[2]], where)
			fail(where, 'unrecognised validatable object', v.validate)
		}
		const t = tags.get(v)
		if (!t) fail(where, 'unrecognised validator', v.validationFn)
		switch (t.kind) {
			case 'literal':
				return { kind: 'literal', value: t.args[0] }
			case 'setEnum':
				return { kind: 'enum', values: [...t.args[0]] }
			case 'literalEnum':
				return { kind: 'enum', values: [...t.args] }
			case 'optional':
			case 'nullable':
				return { kind: t.kind, of: describe(t.self instanceof V.Validator ? t.self : t.args[0], where) }
			case 'model':
				return { kind: 'model', name: t.args[0], of: describe(t.args[1], where) }
			case 'or':
				return { kind: 'or', of: [describe(t.args[0], where), describe(t.args[1], where)] }
			case 'nonEmpty':
				return { kind: 'array_of', of: describe(t.self.itemValidator, `${where}[]`), min_length: 1 }
			case 'lengthGreaterThan1':
				return { kind: 'array_of', of: describe(t.self.itemValidator, `${where}[]`), min_length: 2 }
			case 'id':
				return { kind: 'id', prefix: t.args[0] }
			default:
				fail(where, `${t.kind}() with arbitrary code: hand-port it and add it to CUSTOM`, t.args.find((a) => typeof a === 'function'))
		}
	}

	const records = {}
	for (const [typeName, type] of Object.entries(schema.types)) records[typeName] = describe(type.validator, typeName)
	for (const k of Object.keys(defs)) if (defs[k] === null) throw new Error(`recursive def ${k}`)
	return { records, defs, custom: [...custom].sort() }
}

function fail(where, what, fn) {
	console.error(`at ${where}: ${what}`)
	if (fn) console.error(String(fn))
	throw new Error(`cannot describe the validator at ${where}`)
}

// core/tldraw_validators_data.cpp: the description as a JSON string literal,
// compiled once at startup by core/validator.cpp.
export function emitCpp(description, version) {
	const text = JSON.stringify({ defs: description.defs, records: description.records }, null, 1)
	if (text.includes(')json"')) throw new Error('description contains the raw-string delimiter')
	// Adjacent raw literals concatenate; chunks keep each one small for any compiler.
	const chunks = []
	const lines = text.split('\n')
	for (let i = 0; i < lines.length; i += 400) chunks.push(lines.slice(i, i + 400).join('\n') + '\n')
	return [
		`// GENERATED by scripts/gen-tldraw-schema from @tldraw/tlschema ${version}. Do not edit.`,
		'// The validator description (grammar: core/validator.hpp) of every record type.',
		'// Hand-ported checks it names: ' + (description.custom.join(', ') || 'none') + '.',
		'#include "core/tldraw_schema.hpp"',
		'',
		'namespace tlsync::core::detail {',
		'',
		'const std::string_view tldraw_validators_json =',
		...chunks.map((c) => `    R"json(${c})json"`),
		'    ;',
		'',
		'} // namespace tlsync::core::detail',
		'',
	].join('\n')
}
