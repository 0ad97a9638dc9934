import { defineConfig } from "vite";

// Served by chatd under /app/ (web/handler.go); the SDK is compiled in from
// its TypeScript sources, so the app always matches the SDK beside it.
export default defineConfig({
  base: "/app/",
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true, target: "es2022" },
});
