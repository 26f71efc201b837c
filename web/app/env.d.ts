// Vite's client types: CSS imports are bundled into the stylesheet.
/// <reference types="vite/client" />
