// The validator test corpus: valid records of every record type and every
// default shape/binding/asset type, made with the real package's record types,
// and mutations of them, each with the real validator's verdict (null when
// accepted, else upstream's message). test/unit/core/tldraw_validators_test.cpp
// asserts core/validator.hpp agrees on every case.
//
// Cases are patches of a base record ({ b: base, p: path, v: value } or
// { b, p, del: true }, p: [] for the base itself) to keep the fixture small;
// e indexes `messages` (-1: valid).

export function makeCorpus(tl, schema) {
	const T = schema.types
	const rt = (text) => tl.toRichText(text)
	const richMarks = {
		type: 'doc',
		content: [
			{
				type: 'paragraph',
				attrs: { dir: 'auto' },
				content: [
					{ type: 'text', text: 'bold ', marks: [{ type: 'bold' }] },
					{ type: 'text', text: 'link', marks: [{ type: 'link', attrs: { href: 'https://tldraw.com', target: '_blank' } }] },
				],
			},
			{ type: 'bulletList', content: [{ type: 'listItem', content: [{ type: 'paragraph', content: [{ type: 'text', text: 'item' }] }] }] },
		],
	}
	const path = tl.b64Vecs.encodePoints([{ x: 0, y: 0, z: 0.5 }, { x: 10, y: 5, z: 0.5 }, { x: 20, y: 12, z: 0.5 }])
	const page = 'page:page1'
	let n = 0
	const shape = (type, props, extra = {}) =>
		T.shape.create({ id: `shape:${type}${n++}`, type, parentId: page, index: 'a1', props, ...extra })
	const style = { color: 'black', size: 'm' }
	const text = { font: 'draw', labelColor: 'black' }

	const bases = [
		T.document.create({ id: 'document:document', name: 'My doc' }),
		T.page.create({ id: page, name: 'Page 1', index: 'a1' }),
		T.camera.create({ id: 'camera:page:page1', x: 10, y: -20, z: 0.5 }),
		T.pointer.create({ id: 'pointer:pointer', x: 1, y: 2, lastActivityTimestamp: 1700000000000 }),
		T.instance.create({ id: 'instance:instance', currentPageId: page }),
		T.instance.create({
			id: 'instance:instance',
			currentPageId: page,
			brush: { x: 0, y: 0, w: 10, h: 10 },
			stylesForNextShape: { 'tldraw:color': 'red', 'tldraw:geo': 'ellipse' },
			highlightedUserIds: ['user:u1'],
			duplicateProps: { shapeIds: ['shape:a'], offset: { x: 10, y: 10 } },
			scribbles: [
				{ id: 's1', points: [{ x: 0, y: 0, z: 0.5 }], size: 4, color: 'laser', opacity: 0.8, state: 'active', delay: 0, shrink: 0.1, taper: true },
			],
			openMenus: ['main-menu'],
			isHoveringCanvas: true,
		}),
		T.instance_page_state.create({ id: 'instance_page_state:page:page1', pageId: page, selectedShapeIds: ['shape:a'], editingShapeId: 'shape:a' }),
		T.user.create({ id: 'user:u1', name: 'Ada', color: '#ff0000', imageUrl: '' }),
		T.instance_presence.create({
			id: 'instance_presence:p1',
			userId: 'user:u1',
			userName: 'Ada',
			currentPageId: page,
			cursor: { x: 1, y: 2, type: 'default', rotation: 0 },
			camera: { x: 0, y: 0, z: 1 },
			screenBounds: { x: 0, y: 0, w: 1000, h: 800 },
			lastActivityTimestamp: 1700000000000,
		}),
		// Shapes: tldraw's default props (ShapeUtil.getDefaultProps), then realistic variants.
		shape('arrow', {
			kind: 'arc', ...style, ...text, fill: 'none', dash: 'draw', arrowheadStart: 'none', arrowheadEnd: 'arrow',
			start: { x: 0, y: 0 }, end: { x: 2, y: 0 }, bend: 0, richText: rt(''), labelPosition: 0.5, scale: 1, elbowMidPoint: 0.5,
		}),
		shape('bookmark', { w: 300, h: 320, assetId: null, url: '' }),
		shape('draw', {
			...style, fill: 'none', dash: 'draw', segments: [{ type: 'free', path }], isComplete: false, isClosed: false,
			isPen: false, scale: 1, scaleX: 1, scaleY: 1,
		}),
		shape('embed', { w: 300, h: 300, url: '' }),
		shape('frame', { w: 160, h: 90, name: '', color: 'black' }),
		shape('geo', {
			w: 100, h: 100, geo: 'rectangle', dash: 'draw', growY: 0, url: '', scale: 1, flipX: false, flipY: false,
			...style, ...text, fill: 'none', align: 'middle', verticalAlign: 'middle', richText: rt(''),
		}),
		shape('group', {}),
		shape('highlight', { ...style, segments: [], isComplete: false, isPen: false, scale: 1, scaleX: 1, scaleY: 1 }),
		shape('image', { w: 100, h: 100, assetId: null, playing: true, url: '', crop: null, flipX: false, flipY: false, altText: '' }),
		shape('line', {
			dash: 'draw', ...style, spline: 'line', scale: 1,
			points: { a1: { id: 'a1', index: 'a1', x: 0, y: 0 }, a2: { id: 'a2', index: 'a2', x: 100, y: 100 } },
		}),
		shape('note', {
			color: 'black', richText: rt(''), size: 'm', ...text, align: 'middle', verticalAlign: 'middle', growY: 0,
			fontSizeAdjustment: 0, url: '', scale: 1, textLastEditedBy: null,
		}),
		shape('text', { ...style, w: 8, font: 'draw', textAlign: 'start', autoSize: true, scale: 1, richText: rt('') }),
		shape('video', { w: 100, h: 100, assetId: null, autoplay: true, url: '', time: 0, playing: true, altText: '' }),
		// Variants.
		shape('geo', {
			w: 240, h: 80.5, geo: 'cloud', dash: 'dashed', growY: 12.25, url: 'https://tldraw.com/x?y=1#z', scale: 2.5,
			flipX: true, flipY: false, color: 'light-violet', labelColor: 'red', fill: 'pattern', size: 'xl', font: 'mono',
			align: 'start-legacy', verticalAlign: 'end', richText: richMarks,
		}, { x: -120.5, y: 3e5, rotation: 1.5707963267948966, isLocked: true, opacity: 0.25, meta: { tag: ['a', 1, null] } }),
		shape('note', {
			color: 'yellow', richText: rt('hello\n\nworld'), size: 's', font: 'sans', labelColor: 'black', align: 'end',
			verticalAlign: 'start', growY: 40, fontSizeAdjustment: 14, url: 'mailto:ada@example.com', scale: 1, textLastEditedBy: 'user:u1',
		}),
		shape('draw', {
			color: 'blue', size: 'xl', fill: 'solid', dash: 'solid', isComplete: true, isClosed: true, isPen: true, scale: 0.5,
			scaleX: -1, scaleY: 2,
			segments: [{ type: 'free', path, dim: 3 }, { type: 'straight', path: tl.b64Vecs.encodePoints([{ x: 1, y: 1 }, { x: 9, y: 9 }], 2), dim: 2 }],
		}),
		shape('arrow', {
			kind: 'elbow', color: 'red', labelColor: 'blue', size: 'l', fill: 'semi', dash: 'dotted', font: 'serif',
			arrowheadStart: 'dot', arrowheadEnd: 'triangle', start: { x: 0, y: 0 }, end: { x: 200, y: -50, z: 0.5 },
			bend: -32.5, richText: rt('label'), labelPosition: 0.25, scale: 1, elbowMidPoint: 0.75,
		}),
		shape('frame', { w: 640, h: 480, name: 'Frame 1', color: 'green' }),
		shape('text', { color: 'violet', size: 'l', w: 320, font: 'sans', textAlign: 'middle', autoSize: false, scale: 1.5, richText: richMarks }, { parentId: 'shape:frame1' }),
		shape('image', {
			w: 512, h: 256, assetId: 'asset:img1', playing: true, url: '', flipX: false, flipY: true, altText: 'a cat',
			crop: { topLeft: { x: 0.1, y: 0.2 }, bottomRight: { x: 0.9, y: 1 }, isCircle: true },
		}),
		shape('video', { w: 640, h: 360, assetId: 'asset:vid1', autoplay: false, url: 'https://example.com/v.mp4', time: 12.5, playing: false, altText: '' }),
		shape('bookmark', { w: 300, h: 320, assetId: 'asset:bm1', url: 'https://tldraw.dev/docs' }),
		shape('embed', { w: 560, h: 315, url: 'https://www.youtube.com/embed/abc' }),
		shape('line', {
			dash: 'dotted', color: 'green', size: 's', spline: 'cubic', scale: 1,
			points: {
				a1: { id: 'a1', index: 'a1', x: 0, y: 0 },
				a1V: { id: 'a1V', index: 'a1V', x: 50, y: -20 },
				a2: { id: 'a2', index: 'a2', x: 100, y: 100 },
			},
		}),
		shape('highlight', {
			color: 'yellow', size: 'l', isComplete: true, isPen: false, scale: 1, scaleX: 1, scaleY: 1, segments: [{ type: 'free', path }],
		}),
		T.binding.create({
			id: 'binding:b1', type: 'arrow', fromId: 'shape:arrow0', toId: 'shape:geo5',
			props: { terminal: 'end', normalizedAnchor: { x: 0.5, y: 0.5 }, isExact: false, isPrecise: false, snap: 'none' },
		}),
		T.binding.create({
			id: 'binding:b2', type: 'arrow', fromId: 'shape:arrow0', toId: 'shape:geo5',
			props: { terminal: 'start', normalizedAnchor: { x: 0.1, y: 0.9 }, isExact: true, isPrecise: true, snap: 'edge-point' },
		}),
		T.asset.create({
			id: 'asset:img1', type: 'image',
			props: { w: 512, h: 256, name: 'cat.png', isAnimated: false, mimeType: 'image/png', src: 'https://example.com/cat.png', fileSize: 1234 },
		}),
		T.asset.create({
			id: 'asset:img2', type: 'image',
			props: { w: 1, h: 1, name: '', isAnimated: true, mimeType: null, src: 'data:image/gif;base64,R0lGODlhAQABAAAAACw=', pixelRatio: 2 },
		}),
		T.asset.create({
			id: 'asset:vid1', type: 'video',
			props: { w: 640, h: 360, name: 'v.mp4', isAnimated: true, mimeType: 'video/mp4', src: 'asset:vid1' },
		}),
		T.asset.create({
			id: 'asset:bm1', type: 'bookmark',
			props: { title: 'tldraw', description: 'docs', image: 'https://tldraw.dev/og.png', favicon: '', src: 'https://tldraw.dev/docs' },
		}),
	]

	const verdict = (record, typeName = record.typeName) => {
		try {
			T[typeName].validator.validate(JSON.parse(JSON.stringify(record)))
			return null
		} catch (e) {
			if (e.name !== 'ValidationError' && !(e instanceof Error)) throw e
			return e.message
		}
	}
	bases.forEach((b, i) => {
		const err = verdict(b)
		if (err !== null) throw new Error(`corpus base ${i} (${b.typeName} ${b.type ?? ''}) is invalid: ${err}`)
	})

	// Replacement values: generic ones everywhere, and strings chosen by what
	// the field looks like (ids, index keys, urls, enums).
	const generic = [null, 'nope', -5, 0, 0.5, 1.5, 2, true, {}, []]
	const ids = ['', 'shape', 'shape:', 'shape:x', 'page:x', 'user:x', 'asset:x', 'binding:x', 'Shape:x', ' shape:x']
	const indexKeys = ['', 'a', 'a0', 'a1', 'a10', 'a1V', 'b00', 'b0Z', 'Zz', 'A00000000000000000000000000', 'A000000000000000000000000001', 'zzzzzzzzzzzzzzzzzzzzzzzzzz', '0a', 'a!', 'aé', 'bé', '~', 'aa']
	const urls = [
		'', 'https://example.com', 'HTTP://EXAMPLE.COM/A', 'http:example.com', 'https:///x', 'http://', 'http://@x', 'http://u:p@host:8080/p?q#f',
		'http://exa mple.com', 'http://a%20b.com', 'http://a%2fb', 'http://%41.com', 'http://x:65535', 'http://x:65536', 'http://x:8a',
		'http://[::1]/', 'http://[::1', 'http://[1:2:3:4:5:6:7:8]', 'http://[1::2::3]', 'http://[::ffff:1.2.3.4]', 'http://1.2.3.4',
		'http://1.2.3.256', 'http://0x7f.1', 'http://1.2.3.4.5', 'http://999999999999', 'http://4294967295', 'http://4294967296',
		'http://1..2', 'http://a.1', 'http://1.a', 'http://0x', 'http://09', 'http://a^b', 'http://a|b', 'http://a<b', 'http://a_b.com',
		'http://münchen.de', 'http://xn--mnchen-3ya.de', 'http://%C3%BC.de', 'http://%FF.de', 'http://exa%25mple', 'http://a\u0000b', 'http://0x100000000', 'http://a.b.', 'http://1.2.3.4.', 'http://a\\b', 'https://a#x y', ' https://trim.me ', 'ht\ttp://tab',
		'mailto:ada@example.com', 'MAILTO:x', 'mailto://a b', 'mailto://host:99999', 'data:image/png;base64,AA', 'asset:abc',
		'asset://a:b:c', 'asset://[x]', 'javascript:alert(1)', 'ftp://example.com', 'file:///etc/passwd', 'ws://x', 'blob:http://x',
		'/relative/path', './rel', '//example.com/x', '//exa mple', '/\\evil', '../up', 'rel', 'example.com', '1http://x', 'a:b', ':',
	]
	const strings = (key, value) => {
		if (/url$|^src$|^image$|^favicon$/i.test(key)) return urls
		if (/^index$|^a1V?$|^a2$/.test(key) && typeof value === 'string') return indexKeys
		if (/Id$|^id$|Ids$/.test(key) || (typeof value === 'string' && /^[a-z_]+:/.test(value))) return ids
		if (typeof value === 'string') return ['', 'chartreuse', 'Black']
		return []
	}

	const cases = []
	const seen = new Set() // (type, path pattern): variants only add what defaults lack
	const apply = (record, p, op) => {
		const copy = JSON.parse(JSON.stringify(record))
		let o = copy
		for (let i = 0; i < p.length - 1; i++) o = o[p[i]]
		if (op.del) {
			if (Array.isArray(o)) o.splice(p[p.length - 1], 1)
			else delete o[p[p.length - 1]]
		} else o[p[p.length - 1]] = op.v
		return copy
	}
	// Messages are many and long; cases index a table of them (e: -1 when valid).
	const messages = []
	const messageIndex = new Map()
	const add = (b, p, op) => {
		const error = verdict(p.length ? apply(bases[b], p, op) : bases[b], bases[b].typeName)
		if (error !== null && !messageIndex.has(error)) messageIndex.set(error, messages.push(error) - 1)
		cases.push({ b, p, ...op, e: error === null ? -1 : messageIndex.get(error) })
	}
	bases.forEach((base, b) => {
		add(b, [], {}) // the base itself
		const walk = (value, p) => {
			const key = String(p[p.length - 1] ?? '')
			const pattern = `${base.typeName}/${base.type ?? ''}/${p.map((k) => (typeof k === 'number' ? '#' : k)).join('.')}`
			const fresh = !seen.has(pattern)
			seen.add(pattern)
			if (p.length && fresh) {
				if (typeof p[p.length - 1] === 'string') add(b, p, { del: true })
				for (const v of generic) add(b, p, { v })
				for (const v of strings(key, value)) add(b, p, { v })
			}
			if (value && typeof value === 'object' && !Array.isArray(value)) {
				if (fresh) add(b, [...p, 'extra'], { v: 1 })
				for (const k of Object.keys(value)) walk(value[k], [...p, k])
			} else if (Array.isArray(value)) {
				value.forEach((v, i) => walk(v, [...p, i]))
			}
		}
		walk(base, [])
	})
	// Missing-everything and wrong-root cases.
	add(0, ['meta'], { v: 'not an object but json' })
	return { package: `@tldraw/tlschema`, bases, messages, cases }
}
