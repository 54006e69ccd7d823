/** The HTTP surface as a `node:http` handler, and its parts. */
export { HttpSurface, type HttpOptions, type CorsOptions, type HttpDeps } from './handler.js'
export { RequestAuthenticator, tokenOf, type AuthOptions } from './auth.js'
export { Router, type RouteContext, type RouteHandler } from './router.js'
export { sendJson, sendError, readJson } from './respond.js'
export { openApiDocument } from './openapi.js'
export { SseConnection, sseHeaders } from './sse.js'
export { WebSocketGateway, WS_PATH, wsCloseCode, DEFAULT_WS_MAX_MESSAGE_BYTES, type WsClientMessage, type WsGatewayOptions, type WsGatewayDeps } from './ws.js'
