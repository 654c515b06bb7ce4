export class PbqBackendWebGL {}
