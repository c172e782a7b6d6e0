// The browser client (filled in by the browser-client work).
