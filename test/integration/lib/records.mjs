// Record factories: complete, schema-valid tldraw 5.4.2 records for tests.
import {
	createShapeId,
	createTLSchema,
	InstancePresenceRecordType,
	toRichText,
} from '@tldraw/tlschema'
import { getIndexAbove } from '@tldraw/utils'

export const schema = createTLSchema()
export const PAGE_ID = 'page:page' // DEFAULT_INITIAL_SNAPSHOT's page

const shapeType = schema.types.shape

let lastIndex = null
function nextIndex() {
	lastIndex = getIndexAbove(lastIndex)
	return lastIndex
}

export function geoShape({ id = createShapeId(), x = 0, y = 0, text = '', w = 100, h = 80, color = 'black', parentId = PAGE_ID } = {}) {
	return shapeType.create({
		id,
		type: 'geo',
		parentId,
		index: nextIndex(),
		x,
		y,
		props: {
			geo: 'rectangle',
			dash: 'draw',
			url: '',
			w,
			h,
			growY: 0,
			scale: 1,
			flipX: false,
			flipY: false,
			labelColor: 'black',
			color,
			fill: 'none',
			size: 'm',
			font: 'draw',
			align: 'middle',
			verticalAlign: 'middle',
			richText: toRichText(text),
		},
	})
}

export function noteShape({ id = createShapeId(), x = 0, y = 0, text = '', parentId = PAGE_ID } = {}) {
	return shapeType.create({
		id,
		type: 'note',
		parentId,
		index: nextIndex(),
		x,
		y,
		props: {
			color: 'yellow',
			labelColor: 'black',
			size: 'm',
			font: 'draw',
			fontSizeAdjustment: null,
			align: 'middle',
			verticalAlign: 'middle',
			growY: 0,
			url: '',
			richText: toRichText(text),
			scale: 1,
			textLastEditedBy: null,
		},
	})
}

/** The plain text of a shape's single-paragraph richText. */
export function shapeText(shape) {
	const para = shape?.props?.richText?.content?.[0]
	return (para?.content ?? []).map((n) => n.text ?? '').join('')
}

/** richText with `text` as its only paragraph (the shape toRichText produces). */
export { toRichText }

/** A presence record for user `name` (userId `user:<name>`, userName `<name>`). */
export function presenceRecord({ name, x = 0, y = 0 }) {
	const userId = `user:${name}`
	return InstancePresenceRecordType.create({
		id: InstancePresenceRecordType.createId(userId),
		userId,
		userName: name,
		currentPageId: PAGE_ID,
		cursor: { x, y, type: 'default', rotation: 0 },
	})
}

export { createShapeId }
