/** Errors of the pbq backends that callers may want to tell apart (config errors: config.ts). */

/**
 * Thrown by every call that needs the GPU once a pbq-webgl backend's WebGL context is lost: its
 * textures (tensors, cached weights) and programs are gone, so no result can be computed or read.
 */
export class PbqContextLostError extends Error {
  constructor() {
    super('pbq: the WebGL context of the pbq-webgl backend was lost (webglcontextlost): its tensors, ' +
      'cached weights and programs are gone and no result can be computed or read. Dispose its tensors and ' +
      'models, call pbq.recreateBackend() (a new WebGL context), then load the models again.');
    this.name = 'PbqContextLostError';
  }
}
