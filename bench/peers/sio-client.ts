/** socket.io's client, resolved from bench/peers/node_modules for bench/lib/sio-load.ts (see bench/peers/package.json). */
export { io } from 'socket.io-client'
