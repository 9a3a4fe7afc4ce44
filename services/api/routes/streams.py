"""`/api/streams`: readings pushed to Brewfather, Brewer's Friend or a webhook.

GET    /api/streams          every stream with its status (URL masked)
GET    /api/streams/{id}     one stream
PUT    /api/streams/{id}     create or replace (a masked or absent URL keeps the stored one)
DELETE /api/streams/{id}     the stream and its waiting readings
"""

from __future__ import annotations

from aiohttp import web

from services.api.errors import Invalid, NotFound
from services.api.models import StreamPostRow, StreamRow
from services.api.openapi import describe
from services.api.routes.collection import body_with_id, list_response, model_response
from services.api.store import STORE
from services.api.streams import STREAMER, load_streams
from services.api.streams.schema import Stream, StreamOut
from services.api.streams.streamer import mask_url
from services.api.validation import path_id, read_object, validate

routes = web.RouteTableDef()


def _find(stream_id: str) -> Stream:
    for stream in load_streams():
        if stream.id == stream_id:
            return stream
    raise NotFound(f"no stream {stream_id!r}", {"field": "id"})


@routes.get("/api/streams")
@describe("List streams with their status", responses={200: list[StreamOut]}, tag="streams")
async def list_streams(request: web.Request) -> web.Response:
    streamer = request.app[STREAMER]
    return list_response([streamer.status(s) for s in load_streams()])


@routes.get("/api/streams/{id}")
@describe("Read a stream and its status", responses={200: StreamOut}, tag="streams")
async def get_stream(request: web.Request) -> web.Response:
    return model_response(request.app[STREAMER].status(_find(path_id(request))))


@routes.put("/api/streams/{id}")
@describe(
    "Create or replace a stream",
    description="`url`: Brewfather's Custom Stream URL (http://log.brewfather.net/stream?id=…), "
    "Brewer's Friend's (https://log.brewersfriend.com/stream/<api key>) or any webhook.",
    body=Stream,
    responses={200: StreamOut, 201: StreamOut},
    tag="streams",
)
async def put_stream(request: web.Request) -> web.Response:
    stream_id = path_id(request)
    data = body_with_id(await read_object(request, "stream"), stream_id, "stream")
    data.pop("status", None)  # read-only; a client may send back what it read
    stream = validate(Stream, data, "stream")
    current = next((s for s in load_streams() if s.id == stream_id), None)
    url = stream.url.strip()
    if current is not None and (not url or url == mask_url(current.url)):
        url = current.url
    if not url.startswith(("http://", "https://")):
        raise Invalid("invalid stream", [{"field": "url", "message": "an http:// or https:// URL"}])
    if request.app[STORE].find("loops", stream.loop) is None:
        raise Invalid("invalid stream", [{"field": "loop", "message": f"no loop {stream.loop!r}"}])
    stream = stream.model_copy(update={"url": url})
    body = stream.model_dump_json()
    StreamRow.insert(id=stream.id, data=body).on_conflict(
        conflict_target=[StreamRow.id], update={StreamRow.data: body}
    ).execute()
    streamer = request.app[STREAMER]
    streamer.wake()
    return model_response(streamer.status(stream), 201 if current is None else 200)


@routes.delete("/api/streams/{id}")
@describe("Delete a stream and its waiting readings", responses={204: None}, tag="streams")
async def delete_stream(request: web.Request) -> web.Response:
    stream = _find(path_id(request))
    StreamRow.delete().where(StreamRow.id == stream.id).execute()
    StreamPostRow.delete().where(StreamPostRow.stream == stream.id).execute()
    request.app[STREAMER].wake()
    return web.Response(status=204)
